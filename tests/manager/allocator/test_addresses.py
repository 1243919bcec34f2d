"""Address pools: gateway and edges skipped, walk-on reuse, exhaustion, rebuild from the store."""

from __future__ import annotations

import pytest

from shoal.manager.allocator import NetworkAllocator, Pool
from shoal.manager.allocator.addresses import AddressPool, AddressSpace, mac_of
from shoal.manager.allocator.ingress import INGRESS_VNI, ingress_network
from shoal.manager.allocator.networks import VNI_OPTION, AllocationError, Net
from shoal.proto.shoal.v1 import objects_pb2


def net(net_id: str, subnet: str, gateway: str = "") -> objects_pb2.Network:
    n = objects_pb2.Network(id=net_id)
    n.spec.annotations.name = net_id
    n.ipam.configs.add(subnet=subnet, gateway=gateway or subnet.rsplit(".", 1)[0] + ".1")
    return n


def test_pool_skips_network_gateway_and_broadcast_and_walks_on() -> None:
    pool = AddressPool("10.0.5.0/29", "10.0.5.1")
    got = [pool.allocate(f"t{i}") for i in range(5)]
    assert got == [f"10.0.5.{i}/29" for i in range(2, 7)]
    with pytest.raises(AllocationError, match="no address left in 10.0.5.0/29"):
        pool.allocate("t5")
    pool.release("10.0.5.3/29", "t1")
    pool.release("10.0.5.5/29", "t3")
    # the walk goes on from the last one given: .3 comes back before .5
    assert pool.allocate("t6") == "10.0.5.3/29"
    assert pool.allocate("t7") == "10.0.5.5/29"
    assert pool.free() == 0
    # a second release of t1's address (now t6's) is not t1's to make
    pool.release("10.0.5.3/29", "t1")
    assert pool.owner("10.0.5.3") == "t6" and pool.free() == 0


def test_pool_honours_the_ip_range() -> None:
    pool = AddressPool("10.0.6.0/24", "10.0.6.1", "10.0.6.128/30")
    assert [pool.allocate("a"), pool.allocate("b")] == ["10.0.6.129/24", "10.0.6.130/24"]
    with pytest.raises(AllocationError):
        pool.allocate("c")


def test_rebuild_reserves_every_address_the_store_holds() -> None:
    a = net("na", "10.0.7.0/29")
    task = objects_pb2.Task(id="t1")
    att = task.networks.add()
    att.network.CopyFrom(a)
    att.addresses.append("10.0.7.2/29")
    svc = objects_pb2.Service(id="s1")
    svc.endpoint.virtual_ips.add(network_id="na", addr="10.0.7.3/29")
    node = objects_pb2.Node(id="n1")
    natt = node.attachments.add()
    natt.network.CopyFrom(a)
    natt.addresses.append("10.0.7.4/29")
    space = AddressSpace()
    space.rebuild([a], [task], [svc], [node])
    # a new leader hands out only what nobody holds
    assert {space.allocate(a, "t2"), space.allocate(a, "t3")} == {"10.0.7.5/29", "10.0.7.6/29"}
    with pytest.raises(AllocationError, match="network na: no address left"):
        space.allocate(a, "t4")


def test_mac_is_derived_from_the_address() -> None:
    assert mac_of("10.0.0.5") == "02:42:0a:00:00:05"


def test_ingress_takes_docker_defaults_unless_taken() -> None:
    alloc = NetworkAllocator(Pool(Net("10.0.0.0/16"), 24), routes=lambda: [])
    ing = ingress_network([], alloc)
    assert ing.spec.ingress and ing.spec.annotations.name == "ingress"
    assert ing.ipam.configs[0].subnet == "10.0.0.0/24"
    assert ing.driver_state.name == "overlay"
    assert ing.driver_state.options[VNI_OPTION] == str(INGRESS_VNI)
    # 10.0.0.0/24 and VNI 4096 held by another network: the allocator picks others
    other = net("other", "10.0.0.0/24")
    other.driver_state.options[VNI_OPTION] = "4096"
    ing = ingress_network([other], alloc)
    assert ing.ipam.configs[0].subnet != "10.0.0.0/24"
    assert ing.driver_state.options[VNI_OPTION] != "4096"
