"""The scheduler loop against a real etcd: assignments, explanations, accounting, a batch."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from shoal.manager.orchestrator import new_task
from shoal.manager.orchestrator.loop import LoopConfig
from shoal.manager.scheduler import ASSIGNED_MESSAGE, Scheduler
from shoal.manager.store import Create, Store, Update
from shoal.proto.shoal.v1.objects_pb2 import NodeStatus, Service, Task
from shoal.proto.shoal.v1.specs_pb2 import NodeSpec
from shoal.proto.shoal.v1.types_pb2 import PortConfig, ResourceRequirements, TaskState
from tests.manager.conftest import eventually
from tests.manager.fakes import (
    FakeAgents,
    add_nodes,
    create_service,
    make_service,
    running,
    set_node,
    settle,
)

FAST = LoopConfig(debounce=0.002)
GiB = 1 << 30


def scheduler(store: Store) -> Scheduler:
    return Scheduler(store, config=FAST)


async def add_tasks(store: Store, svc: Service, n: int, first_slot: int = 1) -> list[Task]:
    tasks = [new_task(svc, slot=s) for s in range(first_slot, first_slot + n)]
    result = await store.batch([Create(t) for t in tasks])
    result.raise_first()
    await store.wait_for(result.revision)
    return tasks


def states(store: Store, tasks: list[Task]) -> Counter[int]:
    return Counter(int(store.get(Task, t.id, copy=False).status.state) for t in tasks)


def reserving(memory: int) -> ResourceRequirements:
    r = ResourceRequirements()
    r.reservations.memory_bytes = memory
    return r


async def test_assigns_pending_tasks_spread_over_ready_nodes(store: Store) -> None:
    ready = await add_nodes(store, 3)
    await add_nodes(store, 1, prefix="down", state=NodeStatus.DOWN)
    svc = await create_service(store, make_service("web", 6))
    tasks = await add_tasks(store, svc, 6)
    async with running(scheduler(store)):
        await eventually(lambda: states(store, tasks) == {TaskState.ASSIGNED: 6})
    got = [store.get(Task, t.id) for t in tasks]
    assert Counter(t.node_id for t in got) == {n.id: 2 for n in ready}
    assert all(t.status.message == ASSIGNED_MESSAGE and not t.status.err for t in got)


async def test_unschedulable_task_says_why_and_waits_for_capacity(store: Store) -> None:
    await add_nodes(store, 3, memory=GiB)
    await add_nodes(store, 1, prefix="down", state=NodeStatus.DOWN)
    svc = await create_service(store, make_service("big", 1, resources=reserving(2 * GiB)))
    (t,) = await add_tasks(store, svc, 1)
    why = "no suitable node (insufficient resources on 3 nodes; 1 node not available)"
    async with running(scheduler(store)):
        await eventually(lambda: store.get(Task, t.id).status.err == why)
        assert store.get(Task, t.id).status.state == TaskState.PENDING
        (big,) = await add_nodes(store, 1, prefix="big", memory=4 * GiB)
        await eventually(lambda: store.get(Task, t.id).node_id == big.id)
        assert store.get(Task, t.id).status.err == ""


async def test_freed_resources_are_used_again(store: Store) -> None:
    (node,) = await add_nodes(store, 1, memory=2 * GiB)
    svc = await create_service(store, make_service("web", 3, resources=reserving(GiB)))
    tasks = await add_tasks(store, svc, 3)
    async with running(scheduler(store)):
        await eventually(
            lambda: states(store, tasks) == {TaskState.ASSIGNED: 2, TaskState.PENDING: 1}
        )
        waiting = next(t for t in tasks if store.get(Task, t.id).status.state == TaskState.PENDING)
        await eventually(
            lambda: (
                store.get(Task, waiting.id).status.err
                == "no suitable node (insufficient resources on 1 node)"
            )
        )
        # one task runs, then stops: its memory is free again
        done: Any = store.get(Task, next(t.id for t in tasks if t.id != waiting.id))
        done.status.state = TaskState.SHUTDOWN
        done.desired_state = TaskState.SHUTDOWN
        await store.wait_for((await store.batch([Update(done)])).revision)
        await eventually(lambda: store.get(Task, waiting.id).node_id == node.id)


async def test_host_ports_do_not_collide(store: Store) -> None:
    a, b = await add_nodes(store, 2)
    svc = make_service("edge", 3)
    svc.spec.endpoint.ports.append(
        PortConfig(target_port=80, published_port=8080, publish_mode=PortConfig.HOST)
    )
    svc = await create_service(store, svc)
    tasks = await add_tasks(store, svc, 3)
    async with running(scheduler(store)):
        await eventually(
            lambda: states(store, tasks) == {TaskState.ASSIGNED: 2, TaskState.PENDING: 1}
        )
        placed = {store.get(Task, t.id).node_id for t in tasks} - {""}
        assert placed == {a.id, b.id}
        await eventually(
            lambda: any(
                store.get(Task, t.id).status.err
                == "no suitable node (host-mode port already in use on 2 nodes)"
                for t in tasks
            )
        )


async def test_preassigned_task_is_checked_against_its_node_only(store: Store) -> None:
    a, b = await add_nodes(store, 2)
    await set_node(store, b.id, availability=NodeSpec.DRAIN)
    svc = await create_service(store, make_service("agent", None))
    on_a, on_b = new_task(svc, node_id=a.id), new_task(svc, node_id=b.id)
    result = await store.batch([Create(on_a), Create(on_b)])
    await store.wait_for(result.revision)
    async with running(scheduler(store)):
        await eventually(lambda: store.get(Task, on_a.id).status.state == TaskState.ASSIGNED)
        await eventually(
            lambda: (
                store.get(Task, on_b.id).status.err == "no suitable node (1 node paused or drained)"
            )
        )
        assert store.get(Task, on_a.id).node_id == a.id
        await set_node(store, b.id, availability=NodeSpec.ACTIVE)
        await eventually(lambda: store.get(Task, on_b.id).status.state == TaskState.ASSIGNED)
        assert store.get(Task, on_b.id).node_id == b.id


async def test_tasks_no_longer_wanted_are_not_assigned(store: Store) -> None:
    (node,) = await add_nodes(store, 1, state=NodeStatus.DOWN)
    svc = await create_service(store, make_service("web", 1))
    (t,) = await add_tasks(store, svc, 1)
    async with running(scheduler(store)):
        await eventually(lambda: store.get(Task, t.id).status.err != "")
        cur: Any = store.get(Task, t.id)
        cur.desired_state = TaskState.SHUTDOWN
        await store.wait_for((await store.batch([Update(cur)])).revision)
        await set_node(store, node.id, state=NodeStatus.READY)
        await settle(0.2)
        assert store.get(Task, t.id).status.state == TaskState.PENDING
        assert not store.get(Task, t.id).node_id


async def test_batch_of_a_thousand_tasks_on_a_hundred_nodes(store: Store) -> None:
    await add_nodes(store, 100)
    svc = await create_service(store, make_service("bulk", 1000))
    sched = scheduler(store)
    agents = FakeAgents(store, FAST)
    async with running(sched, agents):
        t0 = time.perf_counter()
        tasks = await add_tasks(store, svc, 1000)
        created = time.perf_counter() - t0
        await eventually(lambda: sched.placed == 1000, timeout=30)
        placed = time.perf_counter() - t0
        await eventually(lambda: states(store, tasks) == {TaskState.RUNNING: 1000}, timeout=30)
    per_node = Counter(store.get(Task, t.id).node_id for t in tasks)
    assert sorted(set(per_node.values())) == [10]
    print(
        f"\n1,000 tasks on 100 nodes: written in {created:.3f}s, all assigned after "
        f"{placed:.3f}s ({1000 / placed:,.0f} placements/s, scheduler busy "
        f"{sched.busy_seconds * 1000:.0f} ms in {sched.ticks} ticks)"
    )
