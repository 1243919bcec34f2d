"""The bridge's namespace: layout, br_netfilter off, icc, MTU, hairpin, egress, removal."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from shoal.engine.network import bridge, nsutil
from shoal.engine.network.netlink import Netlink
from tests.engine.network.conftest import make_service, ping, sh
from tests.engine.network.test_ports import exchange, serve

pytestmark = pytest.mark.root
C1, C2, C3 = "1" * 64, "2" * 64, "3" * 64


def routed_client(host: str, make_ns, name: str, net: str) -> str:
    """Return a namespace joined to HOST by a veth on /30 NET, routing through the host."""
    client = make_ns(name)
    a, b = (f"{ip}/30" for ip in list(ipaddress.IPv4Network(net).hosts())[:2])
    with Netlink(host) as nl:
        fd = os.open(client, os.O_RDONLY)
        nl.add_veth(f"{name}-h", "eth0", peer_netns_fd=fd)
        os.close(fd)
        idx = nl.index(f"{name}-h")
        nl.add_address(idx, ipaddress.IPv4Interface(a))
        nl.set_link(idx, up=True)
    with Netlink(client) as nl:
        idx = nl.index("eth0")
        nl.add_address(idx, ipaddress.IPv4Interface(b))
        nl.set_link(idx, up=True)
        nl.add_route("0.0.0.0/0", gateway=a.split("/")[0])
    return client


def rx_packets(ns: str | None, dev: str) -> int:
    """Return how many packets DEV received, in namespace NS (/proc/net/dev is per netns)."""
    for ln in sh(ns, "cat /proc/net/dev").stdout.splitlines():
        name, _, rest = ln.partition(":")
        if name.strip() == dev:
            return int(rest.split()[1])
    raise AssertionError(f"no {dev} in {ns}")


def test_layout_and_no_netfilter_between_containers(svc):
    n = svc.create("app", subnet="10.71.0.0/24")
    path = svc.link_netns(n)
    assert path == str(svc.cfg.netns_root.parent / "bridge-netns" / n.bridge)
    p1, p2 = svc.sandbox_create(C1), svc.sandbox_create(C2)
    e1, e2 = svc.connect("app", C1, "one"), svc.connect("app", C2, "two")
    with Netlink(svc.cfg.netns) as host:  # the host sees an interface named like the bridge
        up = host.link(n.bridge)
        assert up is not None and up.kind == "veth" and up.up
        assert (up.index, ipaddress.IPv4Interface("10.71.0.1/24")) in host.addresses()
        host_names = {lk.name for lk in host.links()}
    veths = {svc.sandboxes[c].endpoints[0].host_veth for c in (C1, C2)}
    assert not veths & host_names  # the containers' veths end in the bridge's namespace
    with Netlink(path) as bnl:
        links = {lk.name: lk for lk in bnl.links()}
    br = links[bridge.BRIDGE]
    assert br.kind == "bridge" and br.up
    assert links[bridge.UPLINK].master == br.index and links[bridge.UPLINK].link == up.index
    assert all(links[v].master == br.index and links[v].up for v in veths)
    for key in bridge.NO_NETFILTER:  # per namespace: off here, whatever the host has
        if os.path.exists(f"/proc/sys/net/bridge/{key}"):
            assert nsutil.sysctl_read(path, f"net.bridge.{key}") == "0"
    assert "-A" not in sh(path, "iptables-save").stdout  # nothing to walk in there
    # container to container: switched in the bridge's namespace, not seen by the host
    before = rx_packets(svc.cfg.netns, n.bridge)
    assert ping(p1, e2["IPAddress"]) and ping(p2, e1["IPAddress"])
    assert rx_packets(svc.cfg.netns, n.bridge) - before <= 2  # ARP broadcasts at most
    assert ping(p1, e1["Gateway"])  # the host, through the uplink


def test_icc_false_isolates_containers_not_the_gateway(svc):
    svc.create("quiet", subnet="10.72.0.0/24",
               options={"com.docker.network.bridge.enable_icc": "false"})
    p1, p2 = svc.sandbox_create(C1), svc.sandbox_create(C2)
    e1, e2 = svc.connect("quiet", C1, "one"), svc.connect("quiet", C2, "two")
    assert not ping(p1, e2["IPAddress"]) and not ping(p2, e1["IPAddress"])
    assert ping(p1, e1["Gateway"]) and ping(p2, e2["Gateway"])


def test_mtu_option_reaches_every_device(svc):
    n = svc.create("small", subnet="10.73.0.0/24",
                   options={"com.docker.network.driver.mtu": "1400"})
    p1 = svc.sandbox_create(C1)
    svc.connect("small", C1, "one")
    with Netlink(svc.cfg.netns) as host:
        assert host.link(n.bridge).mtu == 1400  # type: ignore[union-attr]
    with Netlink(svc.link_netns(n)) as bnl:
        assert {lk.mtu for lk in bnl.links() if lk.name != "lo"} == {1400}
    with Netlink(p1) as ns:
        assert ns.link("eth0").mtu == 1400  # type: ignore[union-attr]


def test_published_port_hairpin_egress_and_other_networks(svc, make_ns):
    """Containers reach a published port of their own network through the host (the reply
    must come back through the host too: masqueraded), and one of another network."""
    host = svc.cfg.netns
    svc.create("web", subnet="10.74.0.0/24")
    svc.create("other", subnet="10.75.0.0/24")
    p1, p2, p3 = (svc.sandbox_create(c) for c in (C1, C2, C3))
    svc.connect("web", C1, "srv")
    svc.connect("web", C2, "cli")
    svc.connect("other", C3, "far")
    svc.publish(C1, {"80/tcp": [{"HostPort": "8090"}]})
    client = routed_client(host, make_ns, "out", "10.124.0.0/30")
    try:
        srv = serve(p1, 80)
        with srv:
            # same network, through the gateway's address and the host's other address
            assert exchange(p2, srv, "10.74.0.1", 8090) == "10.74.0.1"
            assert exchange(p2, srv, "10.124.0.1", 8090) == "10.74.0.1"
            # another network's container: its outbound NAT (as Docker's) hides it
            assert exchange(p3, srv, "10.74.0.1", 8090) == "10.74.0.1"
            assert exchange(client, srv, "10.124.0.1", 8090) == "10.124.0.2"
            assert exchange(host, srv, "127.0.0.1", 8090) == "10.74.0.1"
        # egress: a container reaches the routed namespace, masqueraded behind the host
        out = serve(client, 9000)
        with out:
            assert exchange(p2, out, "10.124.0.2", 9000) == "10.124.0.1"
            assert exchange(p3, out, "10.124.0.2", 9000) == "10.124.0.1"
    finally:
        with Netlink(host) as nl:
            nl.delete_link(nl.index("out-h"))


def test_removal_deletes_namespace_and_both_veth_ends(svc):
    n = svc.create("tmp", subnet="10.76.0.0/24")
    path = Path(svc.link_netns(n) or "")
    svc.sandbox_create(C1)
    svc.connect("tmp", C1, "one")
    svc.disconnect("tmp", C1)
    assert nsutil.is_netns(path)
    svc.remove("tmp")
    assert not path.exists()
    with Netlink(svc.cfg.netns) as host:
        assert host.link(n.bridge) is None
    assert not sh(svc.cfg.netns, "iptables-save").stdout.count(n.bridge)


def test_private_names_and_restart_keep_one_namespace(tmp_path, host_ns):
    """Names follow the daemon's options; a restart adopts the namespace, adding nothing."""
    s = make_service(tmp_path, host_ns, default_bridge="tq0", bridge_prefix="tq-",
                     veth_prefix="vtq", chain_prefix="TQ", rule_tag="tq-test")
    s.start()
    try:
        n = s.create("x", subnet="10.77.0.0/24")
        assert n.bridge.startswith("tq-")
        roots = sorted(p.name for p in s.bridge_netns_root.iterdir())
        assert roots == sorted(["tq0", n.bridge])
        s.sandbox_create(C1)
        s.connect("x", C1, "one")
        with Netlink(s.link_netns(n)) as bnl:
            ports = sorted(lk.name for lk in bnl.links())
        s.stop()
        s2 = make_service(tmp_path, host_ns, default_bridge="tq0", bridge_prefix="tq-",
                          veth_prefix="vtq", chain_prefix="TQ", rule_tag="tq-test")
        report = s2.start(live_containers=[C1])
        assert report["devices"] == report["endpoints_repaired"] == report["netns_removed"] == []
        assert sorted(p.name for p in s2.bridge_netns_root.iterdir()) == roots
        with Netlink(s2.link_netns(n)) as bnl:
            assert sorted(lk.name for lk in bnl.links()) == ports
        s = s2
    finally:
        s.teardown()
    assert not os.listdir(tmp_path / "run" / "bridge-netns")
