"""The allocator loop against a real etcd: task addresses, VIPs, ingress, release, failover."""

from __future__ import annotations

import ipaddress
from typing import Any

from shoal.manager.allocator import NetworkAllocator, Pool
from shoal.manager.allocator.attachments import Allocator
from shoal.manager.allocator.ingress import find_ingress
from shoal.manager.allocator.networks import Net
from shoal.manager.orchestrator import ReplicatedOrchestrator
from shoal.manager.orchestrator.loop import LoopConfig
from shoal.manager.orchestrator.tasks import networks_by_ref, new_task
from shoal.manager.scheduler import Scheduler
from shoal.manager.store import Create, Store
from shoal.proto.shoal.v1 import types_pb2
from shoal.proto.shoal.v1.objects_pb2 import Network, Node, NodeStatus, Service, Task
from tests.manager.conftest import eventually
from tests.manager.fakes import (
    FakeAgents,
    add_nodes,
    create_service,
    make_service,
    running,
    update_service,
)

FAST = LoopConfig(debounce=0.002)
NEW = types_pb2.NEW
PENDING = types_pb2.PENDING
RUNNING = types_pb2.RUNNING


def allocator(store: Store) -> Allocator:
    # a pool of its own keeps the ingress clear of the test machine's routes
    return Allocator(store, FAST, NetworkAllocator(Pool(Net("10.99.0.0/16"), 24),
                                                   routes=lambda: []))


async def add_network(store: Store, name: str, subnet: str = "") -> Network:
    net = Network()
    net.spec.annotations.name = name
    net.spec.driver_config.name = "overlay"
    if subnet:
        net.spec.ipam.configs.add(subnet=subnet)
    NetworkAllocator(routes=lambda: []).allocate(net, store.list(Network, copy=False))
    net = await store.create(net)
    await store.wait_for(net.meta.version.index)
    return net


def on(store: Store, service: Service, net: Network) -> Service:
    service.spec.task.networks.add(target=net.id)
    return service


def addresses(tasks: list[Any], network_id: str) -> list[str]:
    return [cidr for t in tasks for a in t.networks if a.network.id == network_id
            for cidr in a.addresses]


def running_tasks(store: Store, service_id: str) -> list[Any]:
    return [t for t in store.cache.tasks_by_service(service_id, copy=False)
            if t.status.state == RUNNING and t.desired_state == RUNNING]


def vip(store: Store, service_id: str, network_id: str) -> str:
    svc = store.get(Service, service_id, copy=False)
    assert svc is not None
    return next((v.addr for v in svc.endpoint.virtual_ips if v.network_id == network_id), "")


async def test_tasks_get_distinct_addresses_and_the_service_a_vip(store: Store) -> None:
    await add_nodes(store, 3)
    net = await add_network(store, "app")
    subnet = ipaddress.ip_network(net.ipam.configs[0].subnet)
    svc = await create_service(store, on(store, make_service("web", 4), net))
    loops = (allocator(store), ReplicatedOrchestrator(store, config=FAST),
             Scheduler(store, config=FAST), FakeAgents(store, FAST))
    async with running(*loops):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 4)
        await eventually(lambda: vip(store, svc.id, net.id) != "")
        got = [*addresses(running_tasks(store, svc.id), net.id), vip(store, svc.id, net.id)]
        assert len(set(got)) == 5
        for cidr in got:
            iface = ipaddress.ip_interface(cidr)
            assert iface.network == subnet and str(iface.ip) != net.ipam.configs[0].gateway
        # the leader made the ingress network; a task without ports is not on it
        ingress = find_ingress(store.list(Network, copy=False))
        assert ingress is not None  # not on 10.0.0.0/24: "app" took it first
        assert ingress.ipam.configs[0].subnet not in ("10.0.0.0/24", str(subnet))
        assert all(len(t.networks) == 1 for t in running_tasks(store, svc.id))
        # scaling up hands out fresh addresses, never one a live task holds
        await update_service(store, svc.id, lambda s: setattr(s.spec.replicated, "replicas", 8))
        await eventually(lambda: len(running_tasks(store, svc.id)) == 8)
        got = [*addresses(running_tasks(store, svc.id), net.id), vip(store, svc.id, net.id)]
        assert len(set(got)) == 9
        # scaling down: the stopped tasks (kept as history) give their addresses back
        pool = loops[0].space.pools[net.id]
        assert len(pool.used) == 9
        await update_service(store, svc.id, lambda s: setattr(s.spec.replicated, "replicas", 2))
        await eventually(lambda: len(pool.used) == 3)
        kept = {*addresses(running_tasks(store, svc.id), net.id), vip(store, svc.id, net.id)}
        assert {pool.owner(c) for c in kept} == {*(t.id for t in running_tasks(store, svc.id)),
                                                 svc.id}


async def test_ingress_ports_attach_tasks_and_ready_nodes_get_ingress_addresses(
    store: Store,
) -> None:
    nodes = await add_nodes(store, 2)
    down = (await add_nodes(store, 1, prefix="down", state=NodeStatus.DOWN))[0]
    svc = make_service("web", 2)
    port = types_pb2.PortConfig(target_port=80, published_port=8080,
                                publish_mode=types_pb2.PortConfig.INGRESS)
    svc.spec.endpoint.ports.append(port)
    svc.endpoint.spec.CopyFrom(svc.spec.endpoint)
    svc.endpoint.ports.append(port)
    svc = await create_service(store, svc)
    loops = (allocator(store), ReplicatedOrchestrator(store, config=FAST),
             Scheduler(store, config=FAST), FakeAgents(store, FAST))
    async with running(*loops):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 2)
        ingress = find_ingress(store.list(Network, copy=False))
        assert ingress is not None
        await eventually(lambda: vip(store, svc.id, ingress.id) != "")
        task_ips = addresses(running_tasks(store, svc.id), ingress.id)
        assert len(task_ips) == 2

        def node_ips() -> dict[str, list[str]]:
            out = {}
            for n in store.list(Node, copy=False):
                out[n.id] = [c for a in n.attachments if a.network.id == ingress.id
                             for c in a.addresses]
            return out

        await eventually(lambda: all(node_ips()[n.id] for n in nodes))
        assert node_ips()[down.id] == []
        every = task_ips + [vip(store, svc.id, ingress.id)] + [
            c for ips in node_ips().values() for c in ips]
        assert len(set(every)) == len(every) == 5


async def test_a_full_network_leaves_tasks_new_until_an_address_is_released(
    store: Store,
) -> None:
    net = await add_network(store, "tiny", "10.98.0.0/29")  # .2-.6: five addresses
    svc = await create_service(store, on(store, make_service("web", 6), net))
    refs = networks_by_ref(store.list(Network, copy=False))
    tasks = [new_task(svc, slot=i, networks=refs) for i in range(1, 7)]
    assert all(t.status.state == NEW for t in tasks)
    await store.batch([Create(t) for t in tasks])
    alloc = allocator(store)

    def states() -> list[Any]:
        return [store.get(Task, t.id, copy=False) for t in tasks]

    async with running(alloc):
        # the VIP takes one address, four tasks the rest
        await eventually(lambda: sum(t.status.state == PENDING for t in states()) == 4)
        await eventually(lambda: sum("no address left" in t.status.err for t in states()) == 2)
        stuck = {t.id for t in states() if t.status.state == NEW}
        gone = next(t for t in states() if t.status.state == PENDING)
        await store.delete(Task, gone.id)  # as the reaper does
        await eventually(lambda: any(t.id in stuck and t.status.state == PENDING
                                     for t in states() if t is not None))
        assert len(set(addresses([t for t in states() if t is not None], net.id))) == 4


async def test_a_new_leader_never_hands_out_an_address_a_task_holds(store: Store) -> None:
    net = await add_network(store, "app")
    svc = await create_service(store, on(store, make_service("web", 3), net))
    refs = networks_by_ref(store.list(Network, copy=False))
    first = [new_task(svc, slot=i, networks=refs) for i in range(1, 4)]
    await store.batch([Create(t) for t in first])
    async with running(allocator(store)):
        await eventually(lambda: all(store.get(Task, t.id, copy=False).status.state == PENDING  # type: ignore[union-attr]
                                     for t in first))
    # another leader, with nothing in memory
    more = [new_task(svc, slot=i, networks=refs) for i in range(4, 8)]
    await store.batch([Create(t) for t in more])
    async with running(allocator(store)):
        await eventually(lambda: all(store.get(Task, t.id, copy=False).status.state == PENDING  # type: ignore[union-attr]
                                     for t in more))
    every = [*addresses(store.list(Task, copy=False), net.id), vip(store, svc.id, net.id)]
    assert len(every) == len(set(every)) == 8
