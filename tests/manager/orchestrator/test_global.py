"""The global orchestrator against a real etcd: one task per eligible node."""

from __future__ import annotations

from collections import Counter

from shoal.manager.orchestrator import GlobalOrchestrator
from shoal.manager.orchestrator.loop import LoopConfig
from shoal.manager.scheduler import Scheduler
from shoal.manager.store import Store
from shoal.proto.shoal.v1.objects_pb2 import NodeStatus, Task
from shoal.proto.shoal.v1.specs_pb2 import NodeSpec
from shoal.proto.shoal.v1.types_pb2 import Placement, RestartPolicy, TaskState
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


def cluster(store: Store) -> tuple[GlobalOrchestrator, Scheduler, FakeAgents]:
    return GlobalOrchestrator(store, config=FAST), Scheduler(store, config=FAST), FakeAgents(store)


def per_node(store: Store, service_id: str) -> Counter[str]:
    return Counter(t.node_id for t in live(store, service_id))


async def test_one_task_per_node_and_new_nodes_get_one(store: Store) -> None:
    nodes = await add_nodes(store, 3)
    svc = await create_service(store, make_service("agent", None))
    async with running(*cluster(store)):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 3)
        assert per_node(store, svc.id) == {n.id: 1 for n in nodes}
        t = live(store, svc.id)[0]
        assert t.slot == 0 and t.annotations.name == f"agent.{t.node_id}.{t.id}"
        (late,) = await add_nodes(store, 1, prefix="late")
        await eventually(lambda: len(running_tasks(store, svc.id)) == 4)
        assert per_node(store, svc.id)[late.id] == 1


async def test_drain_removes_the_task_and_pause_keeps_it(store: Store) -> None:
    a, b = await add_nodes(store, 2)
    svc = await create_service(store, make_service("agent", None))
    async with running(*cluster(store)):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 2)
        await set_node(store, a.id, availability=NodeSpec.PAUSE)
        await settle(0.2)
        assert per_node(store, svc.id) == {a.id: 1, b.id: 1}
        await set_node(store, b.id, availability=NodeSpec.DRAIN)
        await eventually(lambda: per_node(store, svc.id) == {a.id: 1})
        await eventually(
            lambda: all(
                t.status.state == TaskState.SHUTDOWN for t in store.cache.tasks_by_node(b.id)
            )
        )
        # back to active: B gets a new task, A keeps the one it had
        kept = live(store, svc.id)[0].id
        await set_node(store, b.id, availability=NodeSpec.ACTIVE)
        await set_node(store, a.id, availability=NodeSpec.ACTIVE)
        await eventually(lambda: len(running_tasks(store, svc.id)) == 2)
        assert kept in {t.id for t in live(store, svc.id)}


async def test_constraints_choose_the_nodes(store: Store) -> None:
    (edge,) = await add_nodes(store, 1, prefix="edge", labels={"zone": "edge"})
    await add_nodes(store, 2, prefix="core", labels={"zone": "core"})
    svc = await create_service(
        store,
        make_service("probe", None, placement=Placement(constraints=["node.labels.zone==edge"])),
    )
    async with running(*cluster(store)):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 1)
        await settle(0.1)
        assert per_node(store, svc.id) == {edge.id: 1}
        # the label moves away: the task goes
        await set_node(store, edge.id, labels={"zone": "core"})
        await eventually(lambda: live(store, svc.id) == [])


async def test_node_down_shuts_tasks_down_without_moving_them(store: Store) -> None:
    a, b = await add_nodes(store, 2)
    svc = await create_service(store, make_service("agent", None))
    async with running(*cluster(store)):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 2)
        (on_a,) = [t for t in live(store, svc.id) if t.node_id == a.id]
        await set_node(store, a.id, state=NodeStatus.DOWN)
        await eventually(lambda: per_node(store, svc.id) == {b.id: 1})
        old = store.get(Task, on_a.id)
        assert old.status.state == TaskState.ORPHANED
        assert old.desired_state == TaskState.SHUTDOWN
        await set_node(store, a.id, state=NodeStatus.READY)
        await eventually(lambda: len(running_tasks(store, svc.id)) == 2)
        assert per_node(store, svc.id) == {a.id: 1, b.id: 1}


async def test_failed_task_restarts_on_the_same_node(store: Store) -> None:
    a, b = await add_nodes(store, 2)
    policy = RestartPolicy(condition=RestartPolicy.ANY)
    policy.delay.FromNanoseconds(0)
    svc = await create_service(store, make_service("agent", None, restart=policy))
    orch, sched, agents = cluster(store)
    async with running(orch, sched, agents):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 2)
        (on_b,) = [t for t in live(store, svc.id) if t.node_id == b.id]
        await agents.fail([on_b])
        await eventually(lambda: len(running_tasks(store, svc.id)) == 2)
        assert per_node(store, svc.id) == {a.id: 1, b.id: 1}
        assert on_b.id not in {t.id for t in live(store, svc.id)}


async def test_spec_change_replaces_tasks_node_by_node(store: Store) -> None:
    await add_nodes(store, 3)
    svc = await create_service(store, make_service("agent", None))
    async with running(*cluster(store)):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 3)
        updated = await update_service(
            store, svc.id, lambda s: s.spec.task.container.args.append("--v2")
        )
        await eventually(
            lambda: (
                len(running_tasks(store, svc.id)) == 3
                and all(t.spec_version == updated.spec_version for t in live(store, svc.id))
            )
        )
        assert all(c == 1 for c in per_node(store, svc.id).values())
