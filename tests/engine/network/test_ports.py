"""Published ports: reachable on the host's loopback and from a routed namespace."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

from shoal.engine.network import nsutil
from shoal.engine.network.errors import PortInUse
from shoal.engine.network.netlink import Netlink
from tests.engine.network.conftest import sh

pytestmark = pytest.mark.root
C1, C2 = "1" * 64, "2" * 64


def serve(ns: str, port: int, proto: str = "tcp") -> socket.socket:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM

    def make() -> socket.socket:
        s = socket.socket(socket.AF_INET, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        if proto == "tcp":
            s.listen()
        s.settimeout(3)
        return s

    return nsutil.run_in(ns, make)


def exchange(client_ns: str, srv: socket.socket, ip: str, port: int) -> str:
    """Connect from CLIENT_NS to IP:PORT, have SRV answer; return the peer address seen."""
    c = nsutil.run_in(client_ns, lambda: socket.create_connection((ip, port), timeout=3))
    with c:
        conn, peer = srv.accept()
        with conn:
            conn.sendall(b"pong")
            assert c.recv(4) == b"pong"
    return str(peer[0])


def test_publish_loopback_routed_and_conflicts(svc, make_ns):
    host = svc.cfg.netns
    svc.create("web")
    p1 = svc.sandbox_create(C1)
    svc.connect("web", C1, "www")
    ports = svc.publish(C1, {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                             "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]},
                        ["80/tcp", "81/tcp"], publish_all=True)
    assert ports["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
    ephemeral = int(ports["81/tcp"][0]["HostPort"])
    assert ephemeral > 1024

    srv = serve(p1, 80)
    with srv:
        exchange(host, srv, "127.0.0.1", 8080)  # the host's loopback
        # a namespace that routes to the host (like another machine on a link)
        client = make_ns("client")
        with Netlink(host) as nl:
            fd = os.open(client, os.O_RDONLY)
            nl.add_veth("cli-h", "eth0", peer_netns_fd=fd)
            os.close(fd)
            idx = nl.index("cli-h")
            nl.add_address(idx, ipaddress.IPv4Interface("10.123.0.1/30"))
            nl.set_link(idx, up=True)
        with Netlink(client) as nl:
            idx = nl.index("eth0")
            nl.add_address(idx, ipaddress.IPv4Interface("10.123.0.2/30"))
            nl.set_link(idx, up=True)
            nl.add_route("0.0.0.0/0", gateway="10.123.0.1")
        assert exchange(client, srv, "10.123.0.1", 8080) == "10.123.0.2"
        with Netlink(host) as nl:
            nl.delete_link(nl.index("cli-h"))

    srv81 = serve(p1, 81)
    with srv81:
        exchange(host, srv81, "127.0.0.1", ephemeral)

    udp = serve(p1, 53, "udp")
    with udp:
        def ask() -> bytes:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(3)
                s.sendto(b"ping", ("127.0.0.1", 5353))
                data, peer = udp.recvfrom(10)
                udp.sendto(b"pong", peer)
                return s.recv(10)
        assert nsutil.run_in(host, ask) == b"pong"

    # conflicts: another container, then a host process
    svc.sandbox_create(C2)
    svc.connect("web", C2, "other")
    with pytest.raises(PortInUse, match="0.0.0.0:8080"):
        svc.publish(C2, {"80/tcp": [{"HostPort": "8080"}]})
    busy = nsutil.run_in(host, lambda: socket.create_server(("0.0.0.0", 0)))
    with busy, pytest.raises(PortInUse, match=str(busy.getsockname()[1])):
        svc.publish(C2, {"80/tcp": [{"HostPort": str(busy.getsockname()[1])}]})
    assert svc.sandboxes[C2].ports == []
    assert svc.endpoint_settings(C1)["Ports"]["80/tcp"][0]["HostPort"] == "8080"

    rules = sh(host, "iptables-save -t nat").stdout
    assert rules.count("-j DNAT") == 3
    svc.unpublish(C1)
    assert "-j DNAT" not in sh(host, "iptables-save -t nat").stdout
    # the port is free again, for a host process too
    nsutil.run_in(host, lambda: socket.create_server(("0.0.0.0", 8080))).close()
