"""Replicated tasks follow node changes: labels that stop matching move them, returns do not."""

from __future__ import annotations

from collections import Counter

from shoal.manager.orchestrator import ReplicatedOrchestrator
from shoal.manager.orchestrator.loop import LoopConfig
from shoal.manager.scheduler import Scheduler
from shoal.manager.store import Store
from shoal.proto.shoal.v1.objects_pb2 import NodeStatus
from shoal.proto.shoal.v1.types_pb2 import TaskState
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
)

FAST = LoopConfig(debounce=0.002)


def cluster(store: Store) -> tuple[ReplicatedOrchestrator, Scheduler, FakeAgents]:
    return (ReplicatedOrchestrator(store, config=FAST), Scheduler(store, config=FAST),
            FakeAgents(store, FAST))


async def test_tasks_move_off_a_node_whose_labels_stop_matching(store: Store) -> None:
    a, b, c = await add_nodes(store, 3)
    for n in (a, b):
        await set_node(store, n.id, labels={"zone": "east"})
    svc = make_service("web", 4)
    svc.spec.task.placement.constraints.append("node.labels.zone==east")
    svc = await create_service(store, svc)
    async with running(*cluster(store)):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 4)
        assert {t.node_id for t in live(store, svc.id)} == {a.id, b.id}
        await set_node(store, a.id, labels={"zone": "west"})
        await eventually(lambda: len(running_tasks(store, svc.id)) == 4
                         and {t.node_id for t in live(store, svc.id)} == {b.id})
        moved = [t for t in store.cache.tasks_by_node(a.id) if t.service_id == svc.id]
        assert moved and all(t.desired_state == TaskState.SHUTDOWN for t in moved)
        assert sorted(t.slot for t in live(store, svc.id)) == [1, 2, 3, 4]
        # an unrelated label change moves nothing
        before = {t.id for t in live(store, svc.id)}
        await set_node(store, b.id, labels={"zone": "east", "disk": "ssd"})
        await set_node(store, c.id, labels={"zone": "north"})
        assert {t.id for t in live(store, svc.id)} == before


async def test_a_node_that_returns_gets_new_tasks_but_steals_none(store: Store) -> None:
    a, b, c = await add_nodes(store, 3)
    svc = await create_service(store, make_service("web", 6))
    async with running(*cluster(store)):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 6)
        await set_node(store, c.id, state=NodeStatus.DOWN)
        await eventually(lambda: len(running_tasks(store, svc.id)) == 6
                         and c.id not in {t.node_id for t in live(store, svc.id)})
        await set_node(store, c.id, state=NodeStatus.READY)
        before = {t.id for t in live(store, svc.id)}
        other = await create_service(store, make_service("other", 1))
        await eventually(lambda: len(running_tasks(store, other.id)) == 1)
        assert running_tasks(store, other.id)[0].node_id == c.id  # the emptiest node
        assert {t.id for t in live(store, svc.id)} == before  # nothing moved back
        assert Counter(t.slot for t in live(store, svc.id)) == {s: 1 for s in range(1, 7)}
