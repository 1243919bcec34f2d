"""A restarted service repairs the kernel from its records, with no duplicate and no leak."""

from __future__ import annotations

import ipaddress
import os
import time

import pytest

from shoal.engine.network import bridge, nsutil
from shoal.engine.network.netlink import Netlink
from tests.engine.network.conftest import host_counts, make_service, ping, sh
from tests.engine.network.test_bridge import dns_query

pytestmark = pytest.mark.root
C1, C2, C3 = "1" * 64, "2" * 64, "3" * 64


def test_restart_reconciles(tmp_path, host_ns, make_ns):
    before = host_counts(host_ns)
    s = make_service(tmp_path, host_ns)
    s.start()
    try:
        n = s.create("app")
        p1, p2 = s.sandbox_create(C1), s.sandbox_create(C2)
        e1 = s.connect("app", C1, "one")
        e2 = s.connect("app", C2, "two")
        s.sandbox_create(C3)
        s.connect("app", C3, "three")
        s.publish(C1, {"80/tcp": [{"HostPort": "8081"}]})
        counts = host_counts(host_ns)
        gone = s.create("gone")
        bridge_ns = s.link_netns(n)
        s.stop()  # the daemon goes away; containers and kernel state stay

        # meanwhile: the bridge is deleted (taking the veths' master) and so is the host's
        # interface, veths leak (in the host's and the bridge's namespace), C2's veth
        # disappears, C3's container is removed, rules are flushed, the record of network
        # "gone" is lost
        with Netlink(bridge_ns) as bnl:
            bnl.delete_link(bnl.index(bridge.BRIDGE))
            bnl.delete_link(bnl.index(s.sandboxes[C2].endpoints[0].host_veth))
            bnl.add_veth("shvfeedface", "shvfeedfacep")
        with Netlink(host_ns) as nl:
            nl.delete_link(nl.index(n.bridge))
            nl.add_veth("shvdeadbeef", "shvdeadbeefp")
        sh(host_ns, "iptables -t nat -F SHOAL-DNAT; iptables -D FORWARD -m comment "
                    "--comment shoal -j SHOAL-FORWARD", check=True)
        stray = s.cfg.netns_root / ("9" * 64)
        nsutil.create(stray)
        s.store.delete_network(gone.id)

        s2 = make_service(tmp_path, host_ns)
        report = s2.start(live_containers=[C1, C2])
        assert report["created"] == []
        assert n.bridge in report["devices"] and f"{n.bridge}/{bridge.BRIDGE}" in report["devices"]
        assert report["sandboxes_removed"] == [C3]
        assert sorted(x[:11] for x in report["links_removed"]) == ["shvdeadbeef", "shvfeedface"]
        assert report["netns_removed"] == [f"bridge-netns/{gone.bridge}", "9" * 64]
        assert report["leases_dropped"] == []  # C3 released its address on removal
        assert ping(p1, e2["IPAddress"]) and ping(p2, e1["IPAddress"])
        assert ping(p1, n.gateway)
        assert dns_query(p1, "two") == (0, [e2["IPAddress"]])
        assert sorted(s2.ipam.leases(n.id)) == sorted([e1["IPAddress"], e2["IPAddress"]])
        after = host_counts(host_ns)
        assert gone.bridge not in after["links"] and gone.id not in s2.ipam.subnets()
        assert after == counts  # hooks and the DNAT rule are back, once
        again = s2.start(live_containers=[C1, C2])  # idempotent
        assert again["devices"] == again["links_removed"] == again["leases_dropped"] == []
        assert again["endpoints_repaired"] == again["netns_removed"] == []
        assert host_counts(host_ns) == after
        with Netlink(bridge_ns) as bnl:  # one port per endpoint, no duplicate
            assert sorted(lk.name for lk in bnl.links() if lk.kind == "veth") == sorted(
                [bridge.UPLINK, *(sb.endpoints[0].host_veth for sb in s2.sandboxes.values())])
        s = s2
    finally:
        s.teardown()
    assert host_counts(host_ns) == before
    assert not os.listdir(tmp_path / "run" / "bridge-netns")


def _wait_gone(ns: str, name: str) -> None:
    deadline = time.monotonic() + 10
    with Netlink(ns) as nl:
        while nl.link(name) is not None:
            assert time.monotonic() < deadline, f"{name} still in {ns}"
            time.sleep(0.02)


def test_older_layout_is_adopted(tmp_path, host_ns):
    """An older shoal kept the bridge and the veths' host ends in the host's namespace: a
    restart moves them into the bridge's namespace, keeping addresses and MACs."""
    before = host_counts(host_ns)
    s = make_service(tmp_path, host_ns)
    s.start()
    try:
        n = s.create("app", subnet="10.64.0.0/24")
        p1, p2 = s.sandbox_create(C1), s.sandbox_create(C2)
        e1, e2 = s.connect("app", C1, "one"), s.connect("app", C2, "two")
        s.stop()
        # rebuild what the older shoal had: no bridge namespace, bridge + veths in the host
        with Netlink(host_ns) as nl:
            nl.delete_link(nl.index(n.bridge))
        nsutil.remove(s.bridge_netns_root / n.bridge)
        for p in (p1, p2):  # the sandbox ends die with the bridge's namespace
            _wait_gone(p, "eth0")
        with Netlink(host_ns) as nl:
            nl.add_bridge(n.bridge)
            br = nl.index(n.bridge)
            nl.add_address(br, ipaddress.IPv4Interface(f"{n.gateway}/24"))
            nl.set_link(br, up=True)
            for p, e in ((p1, e1), (p2, e2)):
                ep = s.sandboxes[C1 if p == p1 else C2].endpoints[0]
                fd = os.open(p, os.O_RDONLY)
                nl.add_veth(ep.host_veth, "eth0", peer_netns_fd=fd, peer_mac=e["MacAddress"],
                            master=br, up=True)
                os.close(fd)
                with Netlink(p) as ns:
                    ns.add_address(ns.index("eth0"), ipaddress.IPv4Interface(
                        f"{e['IPAddress']}/24"))
                    ns.set_link(ns.index("eth0"), up=True)
        assert ping(p1, e2["IPAddress"])  # the old layout works, through the host

        s2 = make_service(tmp_path, host_ns)
        report = s2.start(live_containers=[C1, C2])
        assert sorted(report["endpoints_repaired"]) == sorted(
            sb.endpoints[0].id for sb in s2.sandboxes.values())
        with Netlink(host_ns) as nl:
            assert nl.link(n.bridge).kind == "veth"  # type: ignore[union-attr]
            assert [lk.name for lk in nl.links() if lk.name.startswith("shv")] == []
        with Netlink(p1) as ns:
            assert ns.link("eth0").mac == e1["MacAddress"]  # type: ignore[union-attr]
        assert ping(p1, e2["IPAddress"]) and ping(p2, n.gateway)
        s = s2
    finally:
        s.teardown()
    assert host_counts(host_ns) == before
