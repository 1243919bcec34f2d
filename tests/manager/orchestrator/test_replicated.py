"""The replicated orchestrator against a real etcd: slots, scaling, restarts, node loss, updates."""

from __future__ import annotations

from collections import Counter
from typing import Any

from google.protobuf.duration_pb2 import Duration

from shoal.manager.orchestrator import ReplicatedOrchestrator, TaskReaper
from shoal.manager.orchestrator.loop import LoopConfig
from shoal.manager.scheduler import Scheduler
from shoal.manager.store import Action, Create, Store
from shoal.proto.shoal.v1.objects_pb2 import NodeStatus, Service, Task
from shoal.proto.shoal.v1.specs_pb2 import NodeSpec
from shoal.proto.shoal.v1.types_pb2 import RestartPolicy, TaskState
from tests.manager.conftest import eventually
from tests.manager.fakes import (
    FakeAgents,
    add_nodes,
    create_service,
    live,
    make_service,
    running,
    running_tasks,
    set_node,
    settle,
    update_service,
)

FAST = LoopConfig(debounce=0.002)


def orchestrator(store: Store) -> ReplicatedOrchestrator:
    return ReplicatedOrchestrator(store, config=FAST)


def cluster(store: Store) -> tuple[ReplicatedOrchestrator, Scheduler, FakeAgents]:
    return orchestrator(store), Scheduler(store, config=FAST), FakeAgents(store, FAST)


def restart(condition: int = RestartPolicy.ANY, delay: float = 0, **kw: Any) -> RestartPolicy:
    p = RestartPolicy(condition=condition, **kw)  # type: ignore[arg-type]
    p.delay.FromNanoseconds(int(delay * 1e9))
    return p


def slots(store: Store, service_id: str) -> Counter[int]:
    """Return how many tasks occupy each slot."""
    return Counter(t.slot for t in live(store, service_id))


async def test_creates_one_pending_task_per_slot_from_the_service(store: Store) -> None:
    svc = make_service("web", 3)
    svc.spec.annotations.labels["tier"] = "front"
    svc.spec.task.container.env.append("A=1")
    svc = await create_service(store, svc)
    async with running(orchestrator(store)):
        await eventually(lambda: len(live(store, svc.id)) == 3)
        await settle(0.1)
    tasks = sorted(live(store, svc.id), key=lambda t: t.slot)
    assert [t.slot for t in tasks] == [1, 2, 3]
    for t in tasks:
        assert t.status.state == TaskState.PENDING
        assert t.desired_state == TaskState.RUNNING
        assert t.spec == svc.spec.task
        assert t.spec_version == svc.spec_version
        assert t.service_annotations.labels["tier"] == "front"
        assert t.annotations.name == f"web.{t.slot}.{t.id}"
        assert not t.node_id


async def test_scale_up_and_down_keeps_slot_numbers(store: Store) -> None:
    await add_nodes(store, 3)
    svc = await create_service(store, make_service("web", 2))
    async with running(*cluster(store)):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 2)
        await update_service(store, svc.id, lambda s: setattr(s.spec.replicated, "replicas", 5))
        await eventually(lambda: len(running_tasks(store, svc.id)) == 5)
        assert sorted(slots(store, svc.id)) == [1, 2, 3, 4, 5]
        await update_service(store, svc.id, lambda s: setattr(s.spec.replicated, "replicas", 1))
        await eventually(lambda: len(live(store, svc.id)) == 1)
        # the removed ones are shut down by their agents, and stay as history
        await eventually(
            lambda: all(
                t.status.state == TaskState.SHUTDOWN
                for t in store.cache.tasks_by_service(svc.id)
                if t.desired_state == TaskState.SHUTDOWN
            )
        )
        await update_service(store, svc.id, lambda s: setattr(s.spec.replicated, "replicas", 3))
        await eventually(lambda: len(running_tasks(store, svc.id)) == 3)
        assert sorted(slots(store, svc.id)) == [1, 2, 3]  # the lowest free numbers again


def _placed(service_id: str, slot: int, node_id: str, state: int = TaskState.RUNNING) -> Task:
    t = Task(service_id=service_id, slot=slot, node_id=node_id, desired_state=TaskState.RUNNING)
    t.status.state = state  # type: ignore[assignment]
    t.spec_version.index = 1
    t.spec.container.image = "busybox"
    return t


async def test_scale_down_removes_from_the_nodes_with_most_copies_first(store: Store) -> None:
    a, b, c = await add_nodes(store, 3)
    svc = make_service("web", 6)
    svc = await create_service(store, svc)
    # slots 1-3 on A, 4-5 on B, 6 on C
    where = {1: a, 2: a, 3: a, 4: b, 5: b, 6: c}
    result = await store.batch([Create(_placed(svc.id, s, n.id)) for s, n in where.items()])
    await store.wait_for(result.revision)
    await update_service(store, svc.id, lambda s: setattr(s.spec.replicated, "replicas", 3))
    async with running(orchestrator(store)):
        await eventually(lambda: len(live(store, svc.id)) == 3)
        await settle(0.1)
    kept = {t.slot: t.node_id for t in live(store, svc.id)}
    # A loses its 3rd then its 2nd copy (highest slots first), then B (2 copies) its 2nd
    assert kept == {1: a.id, 4: b.id, 6: c.id}


async def test_scale_down_takes_slots_that_do_not_run_first(store: Store) -> None:
    a, b = await add_nodes(store, 2)
    svc = await create_service(store, make_service("web", 3))
    ops = [Create(_placed(svc.id, 1, a.id)), Create(_placed(svc.id, 2, b.id))]
    pending = _placed(svc.id, 3, "", TaskState.PENDING)
    ops.append(Create(pending))
    result = await store.batch(ops)
    await store.wait_for(result.revision)
    await update_service(store, svc.id, lambda s: setattr(s.spec.replicated, "replicas", 2))
    async with running(orchestrator(store)):
        await eventually(lambda: len(live(store, svc.id)) == 2)
        await settle(0.1)
    assert sorted(slots(store, svc.id)) == [1, 2]


async def test_duplicate_tasks_in_a_slot_are_reduced_to_one(store: Store) -> None:
    a, b = await add_nodes(store, 2)
    svc = await create_service(store, make_service("web", 1))
    ops = [
        Create(_placed(svc.id, 1, a.id)),
        Create(_placed(svc.id, 1, b.id, TaskState.ASSIGNED)),
    ]
    result = await store.batch(ops)
    await store.wait_for(result.revision)
    async with running(orchestrator(store)):
        await eventually(lambda: len(live(store, svc.id)) == 1)
        await settle(0.1)
    (kept,) = live(store, svc.id)
    assert kept.node_id == a.id  # the one furthest along (RUNNING) stays
    assert len(store.cache.tasks_by_service(svc.id)) == 2


async def test_failed_task_is_replaced_in_the_same_slot(store: Store) -> None:
    await add_nodes(store, 2)
    svc = await create_service(store, make_service("web", 2, restart=restart(delay=0)))
    orch, sched, agents = cluster(store)
    async with running(orch, sched, agents):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 2)
        victim = next(t for t in live(store, svc.id) if t.slot == 2)
        await agents.fail([victim])
        await eventually(lambda: len(running_tasks(store, svc.id)) == 2)
        old = store.get(Task, victim.id)
        assert old.desired_state == TaskState.SHUTDOWN
        assert old.status.state == TaskState.FAILED
        new = next(t for t in live(store, svc.id) if t.slot == 2)
        assert new.id != victim.id
        assert slots(store, svc.id) == {1: 1, 2: 1}


async def test_restart_condition_none_and_on_failure(store: Store) -> None:
    await add_nodes(store, 1)
    never = await create_service(
        store, make_service("never", 1, restart=restart(RestartPolicy.NONE))
    )
    on_failure = await create_service(
        store, make_service("onfail", 2, restart=restart(RestartPolicy.ON_FAILURE))
    )
    orch, sched, agents = cluster(store)
    async with running(orch, sched, agents):
        await eventually(lambda: len(running_tasks(store, never.id)) == 1)
        await eventually(lambda: len(running_tasks(store, on_failure.id)) == 2)
        (n,) = live(store, never.id)
        ok, bad = sorted(live(store, on_failure.id), key=lambda t: t.slot)
        await agents.fail([n, bad])
        await agents.fail([ok], TaskState.COMPLETE)
        # only the failed on-failure task comes back
        await eventually(lambda: len(running_tasks(store, on_failure.id)) == 1)
        await settle(0.2)
        assert running_tasks(store, never.id) == []
        assert store.get(Task, n.id).desired_state == TaskState.COMPLETE
        assert store.get(Task, ok.id).desired_state == TaskState.COMPLETE
        assert store.get(Task, bad.id).desired_state == TaskState.SHUTDOWN
        # a finished task keeps its slot: no new task takes it
        assert slots(store, never.id) == {1: 1}
        assert slots(store, on_failure.id) == {1: 1, 2: 1}


async def test_restart_waits_for_the_delay(store: Store) -> None:
    await add_nodes(store, 1)
    svc = await create_service(store, make_service("slow", 1, restart=restart(delay=0.6)))
    orch, sched, agents = cluster(store)
    async with running(orch, sched, agents):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 1)
        (t,) = live(store, svc.id)
        await agents.fail([t])
        await settle(0.3)
        assert [x.id for x in live(store, svc.id)] == [t.id]  # still the failed one
        assert orch.restart.pending(t.id)
        await eventually(lambda: len(running_tasks(store, svc.id)) == 1, timeout=5)
        (new,) = live(store, svc.id)
        assert new.id != t.id and new.slot == t.slot


async def test_restart_gives_up_after_max_attempts(store: Store) -> None:
    await add_nodes(store, 1)
    svc = await create_service(store, make_service("crash", 1, restart=restart(max_attempts=2)))
    orch, sched, agents = cluster(store)
    async with running(orch, sched, agents):
        for _ in range(3):
            await eventually(lambda: len(running_tasks(store, svc.id)) == 1)
            await agents.fail(running_tasks(store, svc.id))
        await settle(0.3)
        assert running_tasks(store, svc.id) == []
        assert len(store.cache.tasks_by_service(svc.id)) == 3  # the first + 2 restarts
        (last,) = live(store, svc.id)
        assert last.desired_state == TaskState.COMPLETE


async def test_restart_window_counts_only_recent_attempts(store: Store) -> None:
    await add_nodes(store, 1)
    policy = restart(max_attempts=1)
    policy.window.CopyFrom(Duration(nanos=400_000_000))
    svc = await create_service(store, make_service("window", 1, restart=policy))
    orch, sched, agents = cluster(store)
    async with running(orch, sched, agents):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 1)
        await agents.fail(running_tasks(store, svc.id))
        await eventually(lambda: len(running_tasks(store, svc.id)) == 1)
        await settle(0.5)  # the first restart leaves the window
        await agents.fail(running_tasks(store, svc.id))
        await eventually(lambda: len(running_tasks(store, svc.id)) == 1)
        # two failures within the window: the second one is not restarted
        await agents.fail(running_tasks(store, svc.id))
        await settle(0.3)
        assert running_tasks(store, svc.id) == []


async def test_node_down_orphans_its_tasks_and_replaces_them_elsewhere(store: Store) -> None:
    a, b, c = await add_nodes(store, 3)
    svc = await create_service(store, make_service("web", 6, restart=restart(delay=30)))
    async with running(*cluster(store)):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 6)
        on_a = [t for t in live(store, svc.id) if t.node_id == a.id]
        assert on_a
        await set_node(store, a.id, state=NodeStatus.DOWN)
        # replaced at once (no restart delay: the task did not fail), on B and C only
        await eventually(lambda: len(running_tasks(store, svc.id)) == 6)
        await settle(0.1)
        for t in on_a:
            old = store.get(Task, t.id)
            assert old.status.state == TaskState.ORPHANED
            assert old.desired_state == TaskState.SHUTDOWN
        assert {t.node_id for t in live(store, svc.id)} == {b.id, c.id}
        assert slots(store, svc.id) == {s: 1 for s in range(1, 7)}
        # the node comes back: nothing moves, nothing is duplicated
        await set_node(store, a.id, state=NodeStatus.READY)
        await settle(0.2)
        assert slots(store, svc.id) == {s: 1 for s in range(1, 7)}


async def test_drained_node_loses_its_tasks(store: Store) -> None:
    a, b = await add_nodes(store, 2)
    svc = await create_service(store, make_service("web", 4))
    async with running(*cluster(store)):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 4)
        await set_node(store, a.id, availability=NodeSpec.DRAIN)
        await eventually(
            lambda: (
                len(running_tasks(store, svc.id)) == 4
                and all(t.node_id == b.id for t in live(store, svc.id))
            )
        )
        drained = [t for t in store.cache.tasks_by_node(a.id) if t.service_id == svc.id]
        assert drained and all(t.status.state == TaskState.SHUTDOWN for t in drained)


async def test_spec_change_replaces_every_task(store: Store) -> None:
    await add_nodes(store, 2)
    svc = make_service("web", 4)
    svc.spec.update.parallelism = 1
    svc = await create_service(store, svc)
    async with running(*cluster(store)):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 4)
        first = {t.id for t in live(store, svc.id)}
        with store.subscribe(Task) as sub:
            updated = await update_service(
                store, svc.id, lambda s: s.spec.task.container.env.append("V=2")
            )
            await eventually(
                lambda: (
                    len(running_tasks(store, svc.id)) == 4
                    and all(t.spec_version == updated.spec_version for t in live(store, svc.id))
                )
            )
            events = []
            while (ev := sub.get_nowait()) is not None:
                events.append(ev)
        # parallelism 1: a new task is created only once the previous one runs
        in_flight = peak = 0
        for ev in events:
            t: Any = ev.obj
            if ev.action == Action.CREATE:
                in_flight += 1
                peak = max(peak, in_flight)
            elif t.status.state == TaskState.RUNNING and ev.old.status.state < TaskState.RUNNING:
                in_flight -= 1
        assert peak == 1
        now = live(store, svc.id)
        assert not first & {t.id for t in now}
        assert all("V=2" in t.spec.container.env for t in now)
        assert sorted(slots(store, svc.id)) == [1, 2, 3, 4]


async def test_removed_service_tasks_are_removed_and_reaped(store: Store) -> None:
    await add_nodes(store, 2)
    svc = await create_service(store, make_service("web", 3))
    orch, sched, agents = cluster(store)
    async with running(orch, sched, agents, TaskReaper(store, FAST)):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 3)
        await store.wait_for(await store.delete(Service, svc.id))
        await eventually(lambda: store.cache.tasks_by_service(svc.id) == [], timeout=5)


async def test_tasks_of_a_service_deleted_while_no_leader_are_removed(store: Store) -> None:
    svc = await create_service(store, make_service("gone", 2))
    result = await store.batch([Create(_placed(svc.id, s, "", TaskState.PENDING)) for s in (1, 2)])
    await store.wait_for(result.revision)
    await store.wait_for(await store.delete(Service, svc.id))
    async with running(orchestrator(store), TaskReaper(store, FAST)):
        await eventually(lambda: store.cache.tasks_by_service(svc.id) == [])
