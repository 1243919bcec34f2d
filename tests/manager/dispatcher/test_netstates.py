"""NetworkStates on the assignment streams: COMPLETE set, then diffs, then REMOVE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shoal.manager.dispatcher import Dispatcher, DispatcherConfig
from shoal.manager.store import Create, Delete, Store
from shoal.proto.shoal.v1.dispatcher_pb2 import AssignmentChange, AssignmentsMessage
from shoal.proto.shoal.v1.objects_pb2 import Network, Node, Service, Task
from shoal.proto.shoal.v1.types_pb2 import TaskState
from tests.manager.conftest import eventually
from tests.manager.dispatcher.helpers import description, task

REMOVE = AssignmentChange.REMOVE


@pytest.fixture
async def dispatcher(store: Store) -> AsyncIterator[Dispatcher]:
    d = Dispatcher(store, DispatcherConfig(heartbeat_period=5, network_state_interval=0.02))
    await d.start()
    yield d
    await d.stop()


async def _next(agen: Any, timeout: float = 5.0) -> AssignmentsMessage:
    return await asyncio.wait_for(agen.__anext__(), timeout)


def networks(msg: AssignmentsMessage) -> dict[str, tuple[int, Any]]:
    return {c.assignment.network.network_id: (c.action, c.assignment.network)
            for c in msg.changes if c.assignment.HasField("network")}


def on(t: Task, net: Network, addr: str) -> Task:
    a = t.networks.add()
    a.network.CopyFrom(net)
    a.addresses.append(addr)
    return t


async def put(store: Store, obj: Any) -> Any:
    out = await (store.update(obj) if obj.meta.version.index else store.create(obj))
    await store.wait_for(out.meta.version.index)
    return out


async def test_nodes_get_network_states_then_changes_then_remove(
    dispatcher: Dispatcher, store: Store
) -> None:
    net = Network()
    net.spec.annotations.name = "app"
    net.ipam.configs.add(subnet="10.0.3.0/24", gateway="10.0.3.1")
    net = await put(store, net)
    svc = Service()
    svc.spec.annotations.name = "web"
    svc.endpoint.virtual_ips.add(network_id=net.id, addr="10.0.3.2/24")
    svc = await put(store, svc)
    sa = await dispatcher.open_session("node-a", _desc("host-a", "192.168.50.1"))
    sb = await dispatcher.open_session("node-b", _desc("host-b", "192.168.50.2"))
    await eventually(lambda: all((n := store.get(Node, i, copy=False)) is not None
                                 and n.status.addr for i in ("node-a", "node-b")))
    t1 = await put(store, on(task("node-a", service_id=svc.id), net, "10.0.3.3/24"))
    t2 = await put(store, on(task("node-b", TaskState.RUNNING, service_id=svc.id, slot=2),
                             net, "10.0.3.4/24"))
    await eventually(lambda: len(dispatcher.networks.for_node("node-a")) == 1)

    stream_a = dispatcher.assignments("node-a", sa.session_id)
    stream_b = dispatcher.assignments("node-b", sb.session_id)
    first = await _next(stream_a)
    assert first.type == AssignmentsMessage.COMPLETE
    assert [c.assignment.task.id for c in first.changes if c.assignment.HasField("task")] == [
        t1.id]
    (action, state), = networks(first).values()
    assert action == AssignmentChange.UPDATE and state.network.spec.annotations.name == "app"
    assert [(p.node_id, p.addr) for p in state.peers] == [("node-b", "192.168.50.2")]
    assert [(e.task_id, e.ip, e.node_addr) for e in state.endpoints] == [
        (t2.id, "10.0.3.4", "192.168.50.2")]
    (rec,) = state.services
    assert (rec.name, rec.vip, list(rec.task_ips)) == ("web", "10.0.3.2", ["10.0.3.4"])
    assert networks(await _next(stream_b))[net.id][1].services[0].task_ips == ["10.0.3.4"]

    # t1 starts running: both nodes learn its address as a backend of "web"
    t1.status.state = TaskState.RUNNING
    t1 = await put(store, t1)
    for stream in (stream_a, stream_b):
        msg = await _next(stream)
        assert msg.type == AssignmentsMessage.INCREMENTAL
        _, state = networks(msg)[net.id]
        assert list(state.services[0].task_ips) == ["10.0.3.3", "10.0.3.4"]

    # t2 fails: node-b leaves the network, node-a loses its peer
    t2.status.state = TaskState.FAILED
    await put(store, t2)
    action, _ = networks(await _next(stream_b))[net.id]
    assert action == REMOVE
    _, state = networks(await _next(stream_a))[net.id]
    assert list(state.peers) == [] and list(state.endpoints) == []
    assert list(state.services[0].task_ips) == ["10.0.3.3"]
    assert dispatcher.networks.for_node("node-b") == []
    for stream in (stream_a, stream_b):
        await stream.aclose()


async def test_a_burst_of_changes_is_one_computation(dispatcher: Dispatcher, store: Store) -> None:
    net = Network()
    net.spec.annotations.name = "app"
    net.ipam.configs.add(subnet="10.0.4.0/24")
    net = await put(store, net)
    await dispatcher.open_session("node-a", _desc("host-a", "192.168.50.1"))
    before = dispatcher.networks.computations
    tasks = [on(task("node-a", slot=i), net, f"10.0.4.{10 + i}/24") for i in range(50)]
    result = await store.batch([Create(t) for t in tasks])
    await store.wait_for(result.revision)
    await eventually(lambda: len(dispatcher.networks.for_node("node-a")) == 1)
    await asyncio.sleep(0.1)
    assert dispatcher.networks.computations - before <= 3  # not one per task
    # the reaper deletes them: the node leaves the network
    result = await store.batch([Delete(Task, t.id) for t in tasks])
    result.raise_first()
    assert all(t.id for t in tasks)
    await store.wait_for(result.revision)
    await eventually(lambda: dispatcher.networks.for_node("node-a") == [])


def _desc(hostname: str, addr: str) -> Any:
    d = description(hostname)
    d.addr = addr
    return d
