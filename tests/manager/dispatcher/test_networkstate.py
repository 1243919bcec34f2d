"""NetworkState computation from a store snapshot (pure: protos in, protos out)."""

from __future__ import annotations

from shoal.manager.dispatcher.networkstate import network_states
from shoal.proto.shoal.v1 import objects_pb2, types_pb2
from shoal.proto.shoal.v1.specs_pb2 import EndpointSpec

RUNNING = types_pb2.RUNNING
SHUTDOWN = types_pb2.SHUTDOWN
INGRESS = types_pb2.PortConfig.INGRESS


def network(net_id: str, subnet: str, ingress: bool = False) -> objects_pb2.Network:
    n = objects_pb2.Network(id=net_id)
    n.spec.annotations.name = net_id
    n.spec.ingress = ingress
    n.ipam.configs.add(subnet=subnet)
    return n


def node(node_id: str, addr: str, ready: bool = True) -> objects_pb2.Node:
    n = objects_pb2.Node(id=node_id)
    n.status.addr = addr
    n.status.state = objects_pb2.NodeStatus.READY if ready else objects_pb2.NodeStatus.DOWN  # type: ignore[assignment]
    return n


def service(service_id: str, name: str, vips: dict[str, str] | None = None,
            dnsrr: bool = False) -> objects_pb2.Service:
    s = objects_pb2.Service(id=service_id)
    s.spec.annotations.name = name
    s.spec.endpoint.mode = EndpointSpec.DNSRR if dnsrr else EndpointSpec.VIP  # type: ignore[assignment]
    for net_id, addr in (vips or {}).items():
        s.endpoint.virtual_ips.add(network_id=net_id, addr=addr)
    return s


def task(task_id: str, service_id: str, node_id: str, net: objects_pb2.Network, addr: str,
         state: int = RUNNING, desired: int = RUNNING,
         aliases: tuple[str, ...] = ()) -> objects_pb2.Task:
    t = objects_pb2.Task(id=task_id, service_id=service_id, node_id=node_id)
    t.status.state = state  # type: ignore[assignment]
    t.desired_state = desired  # type: ignore[assignment]
    a = t.networks.add()
    a.network.CopyFrom(net)
    a.addresses.append(addr)
    a.aliases.extend(aliases)
    return t


def test_peers_endpoints_and_service_records_per_node() -> None:
    net = network("app", "10.0.1.0/24")
    nodes = {n.id: n for n in [node("n1", "192.168.9.1"), node("n2", "192.168.9.2"),
                               node("n3", "192.168.9.3")]}
    web = service("s-web", "web", {"app": "10.0.1.2/24"})
    db = service("s-db", "db", dnsrr=True)
    tasks = [
        task("t1", "s-web", "n1", net, "10.0.1.3/24", aliases=("www",)),
        task("t2", "s-web", "n2", net, "10.0.1.4/24"),
        task("t3", "s-web", "n2", net, "10.0.1.5/24", state=types_pb2.STARTING),
        task("t4", "s-db", "n1", net, "10.0.1.6/24", desired=SHUTDOWN),  # being stopped
        task("t5", "s-db", "n3", net, "10.0.1.7/24", state=types_pb2.FAILED),  # gone
    ]
    states = network_states(net, tasks, {"s-web": web, "s-db": db}, nodes)
    assert set(states) == {"n1", "n2"}  # n3's only task is terminal
    s1 = states["n1"]
    assert s1.network_id == "app" and s1.network.id == "app" and s1.local_address == ""
    assert [(p.node_id, p.addr) for p in s1.peers] == [("n2", "192.168.9.2")]
    assert [(e.task_id, e.ip, e.mac, e.node_addr) for e in s1.endpoints] == [
        ("t2", "10.0.1.4", "02:42:0a:00:01:04", "192.168.9.2"),
        ("t3", "10.0.1.5", "02:42:0a:00:01:05", "192.168.9.2"),
    ]
    assert [e.task_id for e in states["n2"].endpoints] == ["t1", "t4"]
    records = {r.name: r for r in s1.services}
    assert records["web"].vip == "10.0.1.2"
    # only running tasks meant to run get connections
    assert list(records["web"].task_ips) == ["10.0.1.3", "10.0.1.4"]
    assert list(records["web"].aliases) == ["www"]
    assert records["db"].vip == "" and list(records["db"].task_ips) == []
    assert list(s1.ingress_ports) == []
    assert s1.services == states["n2"].services


def test_ingress_reaches_every_ready_node_with_ports_and_node_addresses() -> None:
    ing = network("ing", "10.0.0.0/24", ingress=True)
    nodes = {}
    for i, ready in ((1, True), (2, True), (3, False)):
        n = node(f"n{i}", f"192.168.9.{i}", ready)
        a = n.attachments.add()
        a.network.CopyFrom(ing)
        a.addresses.append(f"10.0.0.{100 + i}/24")
        nodes[n.id] = n
    web = service("s-web", "web", {"ing": "10.0.0.2/24"})
    web.endpoint.ports.add(protocol=types_pb2.PortConfig.TCP, target_port=80,
                           published_port=8080, publish_mode=INGRESS)
    web.endpoint.ports.add(target_port=81, published_port=8081,
                           publish_mode=types_pb2.PortConfig.HOST)
    tasks = [task("t1", "s-web", "n1", ing, "10.0.0.3/24")]
    states = network_states(ing, tasks, {"s-web": web}, nodes)
    assert set(states) == {"n1", "n2"}  # every READY node, tasks or not
    s2 = states["n2"]
    assert s2.local_address == "10.0.0.102/24"
    assert [(e.task_id, e.ip) for e in s2.endpoints] == [("t1", "10.0.0.3"), ("n1", "10.0.0.101")]
    assert [(p.published_port, p.target_port, list(p.backends)) for p in s2.ingress_ports] == [
        (8080, 80, ["10.0.0.3"])]
    assert [e.task_id for e in states["n1"].endpoints] == ["n2"]
