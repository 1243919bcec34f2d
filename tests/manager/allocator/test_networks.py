"""The allocator's choices: subnets that avoid host routes and other networks, VNIs, ports."""

from __future__ import annotations

import ipaddress

import pytest

from shoal.manager.allocator import (
    VNI_OPTION,
    AllocationError,
    NetworkAllocator,
    Pool,
    endpoint_ports,
    host_routes,
)
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2, types_pb2

Net = ipaddress.IPv4Network


def network(name: str, net_id: str = "", driver: str = "", subnet: str = "",
            vni: str = "") -> objects_pb2.Network:
    n = objects_pb2.Network(id=net_id or name, spec=specs_pb2.NetworkSpec())
    n.spec.annotations.name = name
    n.spec.driver_config.name = driver
    if subnet:
        n.spec.ipam.configs.add(subnet=subnet)
    if vni:
        n.spec.driver_config.options[VNI_OPTION] = vni
    return n


def test_subnets_avoid_routes_and_others_and_walk_on():
    alloc = NetworkAllocator(Pool(Net("10.0.0.0/22"), 24), routes=lambda: [Net("10.0.0.0/24")])
    a = network("a")
    alloc.allocate(a, [])
    cfg = a.ipam.configs[0]
    assert (cfg.subnet, cfg.gateway) == ("10.0.1.0/24", "10.0.1.1")  # 10.0.0/24 is routed
    assert a.driver_state.name == "overlay" and a.driver_state.options[VNI_OPTION] == "4097"
    b = network("b")
    alloc.allocate(b, [a])
    assert b.ipam.configs[0].subnet == "10.0.2.0/24"
    assert b.driver_state.options[VNI_OPTION] == "4098"
    # a's subnet is free again (a was deleted) but the walk goes on first
    c = network("c")
    alloc.allocate(c, [b])
    assert c.ipam.configs[0].subnet == "10.0.3.0/24"
    d = network("d")
    alloc.allocate(d, [b, c])
    assert d.ipam.configs[0].subnet == "10.0.1.0/24"  # wrapped around
    with pytest.raises(AllocationError, match="could not find an available"):
        alloc.allocate(network("e"), [b, c, d])


def test_explicit_subnet_gateway_and_vni():
    alloc = NetworkAllocator(routes=lambda: [])
    a = network("a", subnet="10.5.0.0/16", vni="5000")
    a.spec.ipam.configs[0].gateway = "10.5.0.254"
    alloc.allocate(a, [])
    assert (a.ipam.configs[0].subnet, a.ipam.configs[0].gateway) == ("10.5.0.0/16", "10.5.0.254")
    assert a.driver_state.options[VNI_OPTION] == "5000"
    with pytest.raises(AllocationError, match="overlaps with the subnet 10.5.0.0/16"):
        alloc.allocate(network("b", subnet="10.5.3.0/24"), [a])
    with pytest.raises(AllocationError, match="VXLAN id 5000 is used"):
        alloc.allocate(network("b", vni="5000"), [a])
    bridge = network("c", driver="bridge")
    alloc.allocate(bridge, [a])
    assert bridge.driver_state.name == "bridge" and not bridge.driver_state.options
    assert not Net(bridge.ipam.configs[0].subnet).overlaps(Net("10.5.0.0/16"))


def test_host_routes(tmp_path):
    route = tmp_path / "route"
    route.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "br0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n")
    assert host_routes(str(route)) == [Net("192.168.0.0/24"), Net("172.17.0.0/16")]
    assert host_routes(str(tmp_path / "missing")) == []


def port(published: int, target: int = 80, host: bool = False) -> types_pb2.PortConfig:
    mode = types_pb2.PortConfig.HOST if host else types_pb2.PortConfig.INGRESS
    return types_pb2.PortConfig(published_port=published, target_port=target, publish_mode=mode)


def test_dynamic_ingress_ports_kept_across_updates():
    got = endpoint_ports([port(0), port(8080, 81), port(0, 82, host=True)], [],
                         used=[(0, 30000)])
    assert [p.published_port for p in got] == [30001, 8080, 0]
    again = endpoint_ports([port(0), port(0, 90)], got, used=[])
    assert [p.published_port for p in again] == [30001, 30000]
