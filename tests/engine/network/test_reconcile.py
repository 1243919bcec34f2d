"""A restarted service repairs the kernel from its records, with no duplicate and no leak."""

from __future__ import annotations

import pytest

from shoal.engine.network import nsutil
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
        s.stop()  # the daemon goes away; containers and kernel state stay

        # meanwhile: the bridge is deleted (taking the veths' master), a veth leaks,
        # C2's host veth disappears, C3's container is removed, rules are flushed
        with Netlink(host_ns) as nl:
            nl.delete_link(nl.index(n.bridge))
            nl.delete_link(nl.index(e2_veth(s, C2)))
            nl.add_veth("shvdeadbeef", "shvdeadbeefp")
        sh(host_ns, "iptables -t nat -F SHOAL-DNAT; iptables -D FORWARD -m comment "
                    "--comment shoal -j SHOAL-FORWARD", check=True)
        stray = s.cfg.netns_root / ("9" * 64)
        nsutil.create(stray)

        s2 = make_service(tmp_path, host_ns)
        report = s2.start(live_containers=[C1, C2])
        assert report["created"] == []
        assert n.bridge in report["devices"]
        assert report["sandboxes_removed"] == [C3]
        assert [x[:11] for x in report["links_removed"]] == ["shvdeadbeef"]
        assert report["netns_removed"] == ["9" * 64]
        assert report["leases_dropped"] == []  # C3 released its address on removal
        assert ping(p1, e2["IPAddress"]) and ping(p2, e1["IPAddress"])
        assert dns_query(p1, "two") == (0, [e2["IPAddress"]])
        assert sorted(s2.ipam.leases(n.id)) == sorted([e1["IPAddress"], e2["IPAddress"]])
        after = host_counts(host_ns)
        assert after["rules"] == counts["rules"]  # hooks and the DNAT rule are back, once
        again = s2.start(live_containers=[C1, C2])  # idempotent
        assert again["devices"] == again["links_removed"] == again["leases_dropped"] == []
        assert host_counts(host_ns) == after
        s = s2
    finally:
        s.teardown()
    assert host_counts(host_ns) == before


def e2_veth(s, cid):
    return s.sandboxes[cid].endpoints[0].host_veth
