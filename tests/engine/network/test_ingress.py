"""Service (ingress) ports: one published port spread over a service's containers."""

from __future__ import annotations

import pytest

from shoal.engine.network.errors import PortInUse
from tests.engine.network.test_ports import serve

pytestmark = pytest.mark.root
C = ["a" * 64, "b" * 64, "c" * 64]


def answered_by(host: str, servers: list, port: int, tries: int) -> list[int]:
    """Connect TRIES times to 127.0.0.1:PORT in HOST; return which server took each."""
    import select

    from shoal.engine.network import nsutil

    seen = []
    for _ in range(tries):
        import socket

        c = nsutil.run_in(host, lambda: socket.create_connection(("127.0.0.1", port), timeout=3))
        with c:
            ready, _w, _x = select.select(servers, [], [], 3)
            assert ready, "no backend saw the connection"
            conn, _peer = ready[0].accept()
            conn.close()
            seen.append(servers.index(ready[0]))
    return seen


def test_service_ports_round_robin_follow_backends(svc):
    host = svc.cfg.netns
    svc.create("stack")
    paths = []
    for i, cid in enumerate(C):
        paths.append(svc.sandbox_create(cid))
        svc.connect("stack", cid, f"web.{i}", aliases=["web"])
    servers = [serve(p, 80) for p in paths]
    try:
        svc.set_service_ports("svc1", [("tcp", 18080, 80)], C)
        seen = answered_by(host, servers, 18080, 6)
        assert sorted(set(seen)) == [0, 1, 2] and seen[:3] == seen[3:]  # round robin
        with pytest.raises(PortInUse):
            svc.set_service_ports("svc2", [("tcp", 18080, 80)], [])
        svc.sandbox_create("d" * 64)
        svc.connect("stack", "d" * 64, "other")
        with pytest.raises(PortInUse):
            svc.publish("d" * 64, {"80/tcp": [{"HostIp": "", "HostPort": "18080"}]})
        svc.sandbox_remove("d" * 64)
        # a container that goes away stops being a backend at once
        svc.sandbox_remove(C[2])
        assert svc.service_ports()["svc1"]["Addresses"] == [
            svc.endpoint_settings(C[0])["IPAddress"], svc.endpoint_settings(C[1])["IPAddress"]]
        assert sorted(set(answered_by(host, servers[:2], 18080, 4))) == [0, 1]
        # the set survives a restart of the service (rules and held port)
        svc.stop()
        svc.start(live_containers=C[:2])
        assert svc.service_ports()["svc1"]["Ports"] == [["tcp", 18080, 80]]
        assert sorted(set(answered_by(host, servers[:2], 18080, 2))) == [0, 1]
        svc.remove_service_ports("svc1")
        assert svc.service_ports() == {}
        assert "18080" not in __import__("tests.engine.network.conftest", fromlist=["sh"]).sh(
            host, "iptables-save -t nat").stdout
    finally:
        for s in servers:
            s.close()
