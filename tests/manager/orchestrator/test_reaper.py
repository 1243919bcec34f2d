"""The task reaper against a real etcd: removed tasks, history per slot, pending_delete."""

from __future__ import annotations

from typing import Any

from shoal.manager.orchestrator import TaskReaper, retention_limit
from shoal.manager.orchestrator.loop import LoopConfig
from shoal.manager.store import Create, Store, Update
from shoal.proto.shoal.v1.objects_pb2 import Cluster, Service, Task
from shoal.proto.shoal.v1.types_pb2 import TaskState
from tests.manager.conftest import eventually
from tests.manager.fakes import create_service, make_service, running, settle

FAST = LoopConfig(debounce=0.002)


def dead(service_id: str, slot: int, state: int = TaskState.SHUTDOWN, node: str = "n1") -> Task:
    t = Task(service_id=service_id, slot=slot, node_id=node, desired_state=TaskState.SHUTDOWN)
    t.status.state = state  # type: ignore[assignment]
    return t


def alive(service_id: str, slot: int) -> Task:
    t = Task(service_id=service_id, slot=slot, node_id="n1", desired_state=TaskState.RUNNING)
    t.status.state = TaskState.RUNNING
    return t


async def put(store: Store, tasks: list[Task]) -> list[Task]:
    # one by one, so that created_at orders them
    for t in tasks:
        await store.create(t)
    await store.wait_for(tasks[-1].meta.version.index)
    return tasks


def ids(store: Store, service_id: str) -> set[str]:
    return {t.id for t in store.cache.tasks_by_service(service_id)}


async def test_history_is_trimmed_to_five_per_slot_oldest_first(store: Store) -> None:
    svc = await create_service(store, make_service("web", 2))
    slot1 = await put(store, [dead(svc.id, 1) for _ in range(8)] + [alive(svc.id, 1)])
    slot2 = await put(store, [dead(svc.id, 2) for _ in range(3)] + [alive(svc.id, 2)])
    async with running(TaskReaper(store, FAST)):
        await eventually(lambda: len(ids(store, svc.id)) == 6 + 4)
        await settle(0.1)
    assert ids(store, svc.id) == {t.id for t in slot1[3:] + slot2}


async def test_global_history_is_kept_per_node(store: Store) -> None:
    svc = await create_service(store, make_service("agent", None))
    on_a = await put(store, [dead(svc.id, 0, node="a") for _ in range(7)])
    on_b = await put(store, [dead(svc.id, 0, node="b") for _ in range(2)])
    async with running(TaskReaper(store, FAST)):
        await eventually(lambda: len(ids(store, svc.id)) == 5 + 2)
    assert ids(store, svc.id) == {t.id for t in on_a[2:] + on_b}


async def test_cluster_retention_limit_is_followed(store: Store) -> None:
    cluster = Cluster()
    cluster.spec.annotations.name = "default"
    cluster.spec.orchestration.task_history_retention_limit = 1
    await store.create(cluster)
    assert retention_limit(cluster) == 1 and retention_limit(None) == 5
    svc = await create_service(store, make_service("web", 1))
    tasks = await put(store, [dead(svc.id, 1) for _ in range(4)] + [alive(svc.id, 1)])
    async with running(TaskReaper(store, FAST)):
        await eventually(lambda: ids(store, svc.id) == {tasks[3].id, tasks[4].id})
        # a new dead task arrives: the previous one goes
        newer = await put(store, [dead(svc.id, 1)])
        await eventually(lambda: ids(store, svc.id) == {newer[0].id, tasks[4].id})


async def test_history_still_running_is_kept_until_it_stops(store: Store) -> None:
    svc = await create_service(store, make_service("web", 1))
    stopping = dead(svc.id, 1, TaskState.RUNNING)  # desired SHUTDOWN, agent not done yet
    tasks = await put(store, [stopping] + [dead(svc.id, 1) for _ in range(5)])
    async with running(TaskReaper(store, FAST)):
        await settle(0.2)
        assert len(ids(store, svc.id)) == 6
        t: Any = store.get(Task, stopping.id)
        t.status.state = TaskState.SHUTDOWN
        await store.wait_for((await store.batch([Update(t)])).revision)
        await eventually(lambda: ids(store, svc.id) == {x.id for x in tasks[1:]})


async def test_removed_tasks_go_once_stopped_or_never_assigned(store: Store) -> None:
    svc = await create_service(store, make_service("web", 3))
    stopped, runs, unassigned = dead(svc.id, 1), alive(svc.id, 2), alive(svc.id, 3)
    unassigned.node_id = ""
    unassigned.status.state = TaskState.PENDING
    for t in (stopped, runs, unassigned):
        t.desired_state = TaskState.REMOVE
    await put(store, [stopped, runs, unassigned])
    async with running(TaskReaper(store, FAST)):
        await eventually(lambda: ids(store, svc.id) == {runs.id})
        t: Any = store.get(Task, runs.id)
        t.status.state = TaskState.SHUTDOWN
        await store.wait_for((await store.batch([Update(t)])).revision)
        await eventually(lambda: ids(store, svc.id) == set())


async def test_pending_delete_service_goes_with_its_last_task(store: Store) -> None:
    svc = make_service("old", 1)
    svc.pending_delete = True
    svc = await create_service(store, svc)
    t = dead(svc.id, 1)
    t.desired_state = TaskState.REMOVE
    result = await store.batch([Create(t)])
    await store.wait_for(result.revision)
    async with running(TaskReaper(store, FAST)):
        await eventually(lambda: store.get(Service, svc.id) is None)
    assert ids(store, svc.id) == set()
