"""Overlay: two hosts (namespaces on an isolated underlay bridge), one container each.

The underlay bridge lives in the machine's namespace, where br_netfilter may
send bridged frames through FORWARD with a DROP policy (dockerd's): the test
adds its own ACCEPT rule for that bridge and removes it afterwards.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.engine.network import nsutil, overlay
from shoal.engine.network.bridge import mac_for
from shoal.engine.network.netlink import Netlink
from tests.engine.network.conftest import host_counts, make_service, ping, root_netns_files, sh
from tests.engine.network.test_bridge import dns_query

pytestmark = pytest.mark.root
UNDERLAY = "10.231.7"
C3 = "c" * 64  # a private /24 the machine does not route
BR = f"shtu{os.getpid() % 100000}"
RULE = f"FORWARD -i {BR} -o {BR} -m comment --comment shoal-test -j ACCEPT"


@pytest.fixture
def underlay(make_ns) -> Iterator[list[str]]:
    """Return two host namespaces at UNDERLAY.1 and .2 on an isolated bridge."""
    with Netlink() as nl:
        assert nl.link(BR) is None
        nl.add_bridge(BR)
        br = nl.index(BR)
        nl.set_link(br, up=True)
    sh(None, f"iptables -I {RULE}", check=True)
    hosts = []
    try:
        for i in (1, 2):
            ns = make_ns(f"host{i}")
            sh(ns, "iptables -P FORWARD DROP", check=True)
            fd = os.open(ns, os.O_RDONLY)
            with Netlink() as nl:
                nl.add_veth(f"{BR}h{i}", "eth0", peer_netns_fd=fd)
                nl.set_link(nl.index(f"{BR}h{i}"), master=br, up=True)
            os.close(fd)
            with Netlink(ns) as nl:
                idx = nl.index("eth0")
                nl.add_address(idx, ipaddress.IPv4Interface(f"{UNDERLAY}.{i}/24"))
                nl.set_link(idx, up=True)
            hosts.append(ns)
        yield hosts
    finally:
        sh(None, f"iptables -D {RULE}")
        with Netlink() as nl:
            for name in (f"{BR}h1", f"{BR}h2", BR):
                if (lk := nl.link(name)) is not None:
                    nl.delete_link(lk.index)


def test_overlay_between_two_hosts(tmp_path, underlay):
    before = [host_counts(h) for h in underlay]
    mounts = root_netns_files()
    svcs = [make_service(tmp_path / f"h{i}", h) for i, h in enumerate(underlay)]
    for s in svcs:
        s.start()
    try:
        cids = ["a" * 64, "b" * 64]
        ips = ["10.232.0.2", "10.232.0.3"]
        names = ["alpha", "beta"]
        sandboxes = []
        for i, s in enumerate(svcs):
            n = s.create_overlay("ov", vni=4242, subnet="10.232.0.0/24", network_id="f" * 64)
            assert n.mtu == 1450 and n.vxlan == "shvx4242"
            sandboxes.append(s.sandbox_create(cids[i]))
            ep = s.connect("ov", cids[i], names[i], ip=ips[i])
            assert ep["IPAddress"] == ips[i] and ep["Gateway"] == ""
        for i, s in enumerate(svcs):  # what the manager would tell each host
            j = 1 - i
            s.add_peer("ov", f"{UNDERLAY}.{j + 1}")
            s.add_endpoint("ov", ips[j], mac_for(ips[j]), f"{UNDERLAY}.{j + 1}", name=names[j])
        # a second container on the first host: next to alpha, not behind the VXLAN device
        local = svcs[0].sandbox_create(C3)
        assert svcs[0].connect("ov", C3, "gamma")["IPAddress"] == "10.232.0.4"
        svcs[1].add_endpoint("ov", "10.232.0.4", mac_for("10.232.0.4"), f"{UNDERLAY}.1")

        # the VXLAN device is in the overlay's own namespace (no address, no rule, no
        # bridge), its socket in the host's; each container has a macvlan on it
        ov = svcs[0].link_netns(n)
        assert ov and ov != underlay[0] and nsutil.is_netns(Path(ov))
        assert {lk.name: lk.kind for lk in Netlink(ov).links()} == {"lo": "", "shvx4242": "vxlan"}
        assert Netlink(underlay[0]).link("shvx4242") is None
        assert "4789" in sh(underlay[0], "ss -Hlun").stdout
        assert "shoal" not in sh(ov, "iptables-save").stdout
        eth0 = Netlink(sandboxes[0]).link("eth0")
        assert eth0 is not None and eth0.kind == "macvlan" and eth0.mac == mac_for(ips[0])
        assert eth0.mtu == 1450
        fdb = sh(ov, "bridge fdb show dev shvx4242").stdout
        assert f"00:00:00:00:00:00 dst {UNDERLAY}.2" in fdb
        assert f"{mac_for(ips[1])} dst {UNDERLAY}.2" in fdb

        assert ping(sandboxes[0], ips[1]) and ping(sandboxes[1], ips[0])
        assert ping(local, ips[0]) and ping(local, ips[1]) and ping(sandboxes[1], "10.232.0.4")
        assert dns_query(sandboxes[0], "beta") == (0, [ips[1]])
        assert dns_query(sandboxes[0], "gamma") == (0, ["10.232.0.4"])

        def listen() -> socket.socket:
            return socket.create_server((ips[1], 7000))

        srv = nsutil.run_in(sandboxes[1], listen)
        srv.settimeout(3)
        with srv:
            c = nsutil.run_in(sandboxes[0], lambda: socket.create_connection((ips[1], 7000), 3))
            with c:
                conn, peer = srv.accept()
                with conn:
                    c.sendall(b"x" * 4000)  # more than one overlay MTU
                    got = b""
                    while len(got) < 4000:
                        got += conn.recv(4096)
                    conn.sendall(b"ok")
                    assert c.recv(2) == b"ok" and peer[0] == ips[0]

        # the daemon restarts; meanwhile the VXLAN device went, and the macvlans with it:
        # reconcile brings it back in the same namespace, with its FDB and neighbour
        # entries, and the containers' macvlans
        svcs[0].stop()
        with Netlink(ov) as nl:
            nl.delete_link(nl.index("shvx4242"))
        assert Netlink(sandboxes[0]).link("eth0") is None
        svcs[0] = make_service(tmp_path / "h0", underlay[0])
        report = svcs[0].start(live_containers=[cids[0], C3])
        assert report["devices"] == ["shvx4242"] and len(report["endpoints_repaired"]) == 2
        assert svcs[0].link_netns(svcs[0].get("ov")) == ov
        assert ping(sandboxes[0], ips[1]) and ping(sandboxes[1], ips[0])
        assert ping(local, ips[0]) and ping(sandboxes[1], "10.232.0.4")
        again = svcs[0].start(live_containers=[cids[0], C3])
        assert again["devices"] == again["links_removed"] == again["netns_removed"] == []
        assert again["endpoints_repaired"] == []

        svcs[0].remove_endpoint("ov", ips[1])
        svcs[0].remove_peer("ov", f"{UNDERLAY}.2")
        assert "dst" not in sh(ov, "bridge fdb show dev shvx4242").stdout
        assert not ping(sandboxes[0], ips[1])

        # a removed container's address comes back once its macvlan is gone, or at once
        # when asked for by name; the network's namespace goes with the network
        svcs[0].sandbox_remove(cids[0])
        svcs[0].sandbox_remove(C3)
        svcs[0].sandbox_create(cids[0])
        assert svcs[0].connect("ov", cids[0], "alpha", ip=ips[0])["IPAddress"] == ips[0]
        svcs[0].reaper.drain()
        assert svcs[0].ipam.leases(n.id) == {ips[0]: svcs[0].sandboxes[cids[0]].endpoints[0].id}
        assert overlay.is_attached(Netlink(sandboxes[0]), "eth0", mac_for(ips[0]))
        svcs[0].sandbox_remove(cids[0])
        svcs[0].remove("ov")
        assert not Path(ov).exists()
    finally:
        for s in svcs:
            s.teardown()
    assert [host_counts(h) for h in underlay] == before
    made_by_tests = str(tmp_path / "ns")
    assert {m for m in root_netns_files() - mounts
            if m.startswith(str(tmp_path)) and not m.startswith(made_by_tests)} == set()
