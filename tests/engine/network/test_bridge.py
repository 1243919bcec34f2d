"""Bridge networks in a namespace standing for a host (FORWARD policy DROP)."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from shoal.engine.network import dnsmsg, nsutil
from shoal.engine.network.errors import (
    AddressInUse,
    InvalidNetworkConfig,
    NetworkConflict,
    NetworkInUse,
    NetworkNotFound,
)
from shoal.engine.network.netlink import Netlink
from tests.engine.network.conftest import ping, sh

pytestmark = pytest.mark.root
C1, C2, C3 = "1" * 64, "2" * 64, "3" * 64


def dns_query(ns: str, name: str, tcp: bool = False) -> tuple[int, list[str]]:
    q = dnsmsg.build_query(name)

    def ask() -> bytes:
        if tcp:
            with socket.create_connection(("127.0.0.11", 53), timeout=2) as s:
                s.sendall(len(q).to_bytes(2, "big") + q)
                n = int.from_bytes(s.recv(2), "big")
                return s.recv(n)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(q, ("127.0.0.11", 53))
            return s.recv(512)

    return dnsmsg.parse_answer(nsutil.run_in(ns, ask))


def test_predefined_networks(svc):
    names = {n["Name"]: n for n in svc.list()}
    assert set(names) == {"bridge", "host", "none"}
    b = names["bridge"]
    assert b["Driver"] == "bridge" and b["Scope"] == "local"
    assert b["IPAM"]["Config"] == [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]
    assert b["Options"]["com.docker.network.bridge.name"] == "shoal0"
    assert Netlink(svc.cfg.netns).link("shoal0") is not None
    with pytest.raises(NetworkConflict, match="pre-defined"):
        svc.remove("bridge")
    assert [n["Name"] for n in svc.list({"type": ["custom"]})] == []


def test_create_inspect_remove(svc):
    n = svc.create("front", labels={"tier": "web"}, subnet="10.61.0.0/24",
                   gateway="10.61.0.254")
    with pytest.raises(NetworkConflict, match="already exists"):
        svc.create("front")
    with pytest.raises(NetworkConflict, match="overlaps"):
        svc.create("other", subnet="10.61.0.0/16")
    with pytest.raises(InvalidNetworkConfig):
        svc.create("bad name")
    auto = svc.create("auto")
    assert auto.subnet == "172.18.0.0/16"  # the next pool subnet after the default bridge's
    svc.sandbox_create(C1)
    ep = svc.connect("front", C1, "web", aliases=["www"])
    assert ep["IPAddress"] == "10.61.0.1" and ep["Gateway"] == "10.61.0.254"
    view = svc.inspect(n.id[:8])
    assert view["Name"] == "front" and view["Labels"] == {"tier": "web"}
    assert view["IPAM"]["Config"] == [{"Subnet": "10.61.0.0/24", "Gateway": "10.61.0.254"}]
    assert view["Containers"][C1] == {
        "Name": "web", "EndpointID": ep["EndpointID"], "MacAddress": "02:42:0a:3d:00:01",
        "IPv4Address": "10.61.0.1/24", "IPv6Address": ""}
    with pytest.raises(NetworkInUse, match=r"\(web\)"):
        svc.remove("front")
    assert [x["Name"] for x in svc.list({"label": ["tier=web"]})] == ["front"]
    assert svc.prune() == ["auto"]
    svc.sandbox_remove(C1)
    svc.remove("front")
    with pytest.raises(NetworkNotFound):
        svc.inspect("front")


def test_connectivity_isolation_and_dns(svc):
    svc.create("a")
    svc.create("b")
    svc.create("secret", internal=True)
    p1, p2, p3 = (svc.sandbox_create(c) for c in (C1, C2, C3))
    e1 = svc.connect("a", C1, "one", aliases=["uno"])
    e2 = svc.connect("a", C2, "two")
    e3 = svc.connect("b", C3, "three")
    assert ping(p1, e2["IPAddress"])  # same network: switched in the bridge's namespace
    assert not ping(p1, e3["IPAddress"])  # different networks are isolated
    assert dns_query(p2, "one") == (0, [e1["IPAddress"]])
    assert dns_query(p2, "UNO.") == (0, [e1["IPAddress"]])
    assert dns_query(p2, C1[:12], tcp=True) == (0, [e1["IPAddress"]])
    assert dns_query(p1, "three")[0] == dnsmsg.NXDOMAIN  # not on a shared network
    # port 53 stays free in the container: its own DNS server can bind the wildcard
    own = nsutil.run_in(p1, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    with own:
        own.bind(("0.0.0.0", 53))
        assert dns_query(p1, "two") == (0, [e2["IPAddress"]])
    # the redirection is a stateless rewrite: no NAT, so conntrack stays off in the sandbox
    assert sh(p1, "nft list tables").stdout.split() == ["table", "ip", "shoal_dns"]
    assert svc.resolv_conf(C1).startswith("nameserver 127.0.0.11\n")
    assert f"{e1['IPAddress']}\thost1" in svc.hosts(C1, "host1")

    # a second network: eth1, names on it resolve, the default route stays on eth0
    s1 = svc.connect("secret", C1, "one")
    s3 = svc.connect("secret", C3, "three")
    assert s3["Gateway"] == "" and ping(p3, s1["IPAddress"])
    assert dns_query(p1, "three") == (0, [s3["IPAddress"]])
    with Netlink(p1) as nl:
        names = {lk.name for lk in nl.links()}
        default = [r for r in nl.routes() if r.dst.prefixlen == 0]
    assert {"eth0", "eth1"} <= names and default[0].gateway == e1["Gateway"]
    with Netlink(p3) as nl:  # the internal network gives no route out
        assert next(r for r in nl.routes() if r.dst.prefixlen == 0).gateway == e3["Gateway"]
    svc.disconnect("a", C1)
    assert not ping(p2, e1["IPAddress"])
    with pytest.raises(Exception, match="not connected"):
        svc.disconnect("a", C1)
    svc.disconnect("a", C1, force=True)


def test_internal_network_has_no_default_route(svc):
    svc.create("inner", internal=True)
    p = svc.sandbox_create(C1)
    svc.connect("inner", C1, "x")
    with Netlink(p) as nl:
        assert [r for r in nl.routes() if r.dst.prefixlen == 0] == []


def test_explicit_ip_conflict(svc):
    svc.create("n", subnet="10.62.0.0/24")
    svc.sandbox_create(C1)
    svc.sandbox_create(C2)
    assert svc.connect("n", C1, "x", ip="10.62.0.50")["IPAddress"] == "10.62.0.50"
    with pytest.raises(AddressInUse, match="10.62.0.50"):
        svc.connect("n", C2, "y", ip="10.62.0.50")
    assert svc.inspect("n")["Containers"].keys() == {C1}


def test_twenty_parallel_containers_get_distinct_addresses(svc):
    svc.create("busy")
    ids = [f"{i:064x}" for i in range(20)]
    got: dict[str, str] = {}
    barrier = threading.Barrier(20)

    def start(cid: str) -> None:
        barrier.wait()
        svc.sandbox_create(cid)
        got[cid] = svc.connect("busy", cid, f"c{cid[-2:]}")["IPAddress"]

    threads = [threading.Thread(target=start, args=(c,)) for c in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got.values())) == 20
    assert ping(svc.sandbox_path(ids[0]), got[ids[19]])


def _wait(cond, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def test_removed_sandbox_keeps_its_address_until_its_veth_is_gone(svc):
    n = svc.create("n", subnet="10.63.0.0/24")
    C4, C5 = "4" * 64, "5" * 64
    paths = [svc.sandbox_create(c) for c in (C1, C2)]
    ips = [svc.connect("n", c, f"c{i}")["IPAddress"] for i, c in enumerate((C1, C2))]
    veths = [svc.sandboxes[c].endpoints[0].host_veth for c in (C1, C2)]
    host = Netlink(svc.link_netns(n))  # the bridge's namespace: where the veths' ends are
    held = [os.open(p, os.O_RDONLY) for p in paths]  # something else keeps both namespaces
    try:
        svc.sandbox_remove(C1)
        svc.sandbox_remove(C2)
        assert svc.sandbox_path(C1) is None and not os.path.exists(paths[0])
        # the veths are still on the bridge: their addresses (and MACs) are not handed out
        assert all(host.link(v) is not None for v in veths)
        assert sorted(svc.reaper.pending()) == sorted((n.id, ip) for ip in ips)
        assert set(svc.ipam.leases(n.id)) == set(ips)
        svc.sandbox_create(C3)
        assert svc.connect("n", C3, "three")["IPAddress"] not in ips
        # asking for one by name finishes its old endpoint now
        svc.sandbox_create(C4)
        assert svc.connect("n", C4, "four", ip=ips[0])["IPAddress"] == ips[0]
        assert host.link(veths[0]) is None and svc.reaper.pending() == [(n.id, ips[1])]
        # the namespace goes: so does the veth, and then the lease
        os.close(held.pop())
        assert _wait(lambda: ips[1] not in svc.ipam.leases(n.id))
        assert host.link(veths[1]) is None and svc.reaper.pending() == []
        # a namespace that stays too long: its veth is deleted by hand
        svc.reaper.timeout = 0.3
        p5 = svc.sandbox_create(C5)
        ip5 = svc.connect("n", C5, "five")["IPAddress"]
        veth5 = svc.sandboxes[C5].endpoints[0].host_veth
        held.append(os.open(p5, os.O_RDONLY))
        svc.sandbox_remove(C5)
        assert _wait(lambda: ip5 not in svc.ipam.leases(n.id))
        assert host.link(veth5) is None
    finally:
        for fd in held:
            os.close(fd)
        host.close()
