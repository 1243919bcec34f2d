"""IPAM: pool subnets skip host ranges; leases are unique, persisted, thread-safe."""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path

import pytest

from shoal.engine.network.errors import (
    AddressInUse,
    InvalidNetworkConfig,
    NetworkConflict,
    PoolExhausted,
)
from shoal.engine.network.ipam import (
    DEFAULT_POOLS,
    Ipam,
    Pool,
    parse_pools,
    parse_subnet,
    pick_subnet,
)

N = ipaddress.IPv4Network


def test_default_pools_start_with_docker_defaults():
    assert pick_subnet(DEFAULT_POOLS, []) == N("172.17.0.0/16")
    assert pick_subnet(DEFAULT_POOLS, [N("172.17.0.0/16")]) == N("172.18.0.0/16")


def test_pick_skips_host_routes_and_ignores_default_route():
    avoid = [N("0.0.0.0/0"), N("172.17.5.0/24"), N("172.18.0.0/15"), N("172.20.0.0/14"),
             N("172.24.0.0/13")]
    assert pick_subnet(DEFAULT_POOLS, avoid) == N("192.168.0.0/20")
    assert pick_subnet(DEFAULT_POOLS, [*avoid, N("192.168.0.0/24")]) == N("192.168.16.0/20")


def test_pick_exhausted():
    with pytest.raises(PoolExhausted):
        pick_subnet([Pool("10.9.0.0/24", 25)], [N("10.9.0.0/24")])


def test_parse_pools_and_subnets():
    assert parse_pools("10.10.0.0/16:24, 10.20.0.0/16") == (Pool("10.10.0.0/16", 24),
                                                            Pool("10.20.0.0/16", 16))
    assert parse_subnet("10.1.0.0/16", None) == (N("10.1.0.0/16"),
                                                 ipaddress.IPv4Address("10.1.0.1"))
    assert parse_subnet("10.1.0.0/16", "10.1.255.254")[1] == ipaddress.IPv4Address(
        "10.1.255.254")
    for bad, gw in (("10.1.0.5/16", None), ("nope", None), ("10.1.0.0/16", "10.2.0.1"),
                    ("10.1.0.0/31", None), ("10.1.0.0/24", "10.1.0.255")):
        with pytest.raises(InvalidNetworkConfig):
            parse_subnet(bad, gw)


def make(tmp_path: Path, subnet: str = "10.50.0.0/24") -> Ipam:
    ipam = Ipam(tmp_path / "ipam.json")
    net, gw = parse_subnet(subnet, None)
    ipam.add_network("n1", net, gw)
    return ipam


def test_allocation_skips_gateway_and_honours_explicit_ip(tmp_path):
    ipam = make(tmp_path)
    assert str(ipam.allocate("n1", "e1")) == "10.50.0.2"
    assert str(ipam.allocate("n1", "e2", "10.50.0.9")) == "10.50.0.9"
    assert str(ipam.allocate("n1", "e3")) == "10.50.0.3"
    with pytest.raises(AddressInUse, match="10.50.0.9 is already in use"):
        ipam.allocate("n1", "e4", "10.50.0.9")
    with pytest.raises(AddressInUse, match="gateway"):
        ipam.allocate("n1", "e4", "10.50.0.1")
    with pytest.raises(InvalidNetworkConfig):
        ipam.allocate("n1", "e4", "10.51.0.9")
    ipam.release("n1", "10.50.0.2")
    assert str(ipam.allocate("n1", "e5")) == "10.50.0.2"


def test_exhaustion(tmp_path):
    ipam = make(tmp_path, "10.50.0.0/30")  # .1 gateway, .2 the only host left
    ipam.allocate("n1", "e1")
    with pytest.raises(PoolExhausted):
        ipam.allocate("n1", "e2")


def test_overlapping_networks_refused(tmp_path):
    ipam = make(tmp_path)
    with pytest.raises(NetworkConflict, match="overlaps"):
        ipam.add_network("n2", N("10.50.0.128/25"), ipaddress.IPv4Address("10.50.0.129"))


def test_leases_persist_and_retain_reconciles(tmp_path):
    ipam = make(tmp_path)
    a, b = ipam.allocate("n1", "e1"), ipam.allocate("n1", "e2")
    again = Ipam(tmp_path / "ipam.json")
    assert again.leases("n1") == {str(a): "e1", str(b): "e2"}
    assert str(again.allocate("n1", "e3")) == "10.50.0.4"  # no duplicate after a restart
    dropped = again.retain({"n1": {str(a): "e1", "10.50.0.7": "e9"}})
    assert sorted(dropped) == [("n1", str(b)), ("n1", "10.50.0.4")]
    assert Ipam(tmp_path / "ipam.json").leases("n1") == {str(a): "e1", "10.50.0.7": "e9"}


def test_parallel_allocations_are_distinct(tmp_path):
    ipam = make(tmp_path)
    got: list[str] = []
    barrier = threading.Barrier(20)

    def alloc(i: int) -> None:
        barrier.wait()
        got.append(str(ipam.allocate("n1", f"e{i}")))

    threads = [threading.Thread(target=alloc, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 20
    assert len(Ipam(tmp_path / "ipam.json").leases("n1")) == 20
