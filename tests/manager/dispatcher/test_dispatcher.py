"""The dispatcher's logic against a real etcd: sessions, liveness, assignments, reports."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shoal.manager.dispatcher import (
    Dispatcher,
    DispatcherConfig,
    PermissionDenied,
    SessionInvalid,
)
from shoal.manager.store import Create, Store, Update
from shoal.proto.shoal.v1.dispatcher_pb2 import (
    AssignmentChange,
    AssignmentsMessage,
    TaskStatusUpdate,
)
from shoal.proto.shoal.v1.objects_pb2 import Cluster, Node, NodeStatus, Task
from shoal.proto.shoal.v1.types_pb2 import TaskState, TaskStatus
from tests.manager.conftest import eventually
from tests.manager.dispatcher.helpers import WriteCounter, description, task


async def test_session_registers_the_node_and_a_reconnect_writes_nothing(
    dispatcher: Dispatcher, store: Store
) -> None:
    first = await dispatcher.open_session("node-a", description(zone="east"))
    assert first.session_id
    node = store.get(Node, "node-a")
    assert node is not None
    assert node.status.state == NodeStatus.READY
    assert node.description.hostname == "host-a"
    assert node.description.engine.labels["zone"] == "east"
    assert node.status.addr == "10.0.0.1"
    assert first.node.id == "node-a"

    writes = WriteCounter(store)
    again = await dispatcher.open_session("node-a", description(zone="east"),
                                          session_id=first.session_id)
    assert again.session_id == first.session_id  # resumed
    assert writes.calls == 0
    await dispatcher.open_session("node-a", description(zone="west"))
    assert writes.ops == {"Node": 1}
    await eventually(lambda: store.get(Node, "node-a").description.engine.labels["zone"] == "west")


async def test_heartbeats_write_nothing(dispatcher: Dispatcher, store: Store) -> None:
    s = await dispatcher.open_session("node-a", description())
    writes = WriteCounter(store)
    for _ in range(20):
        assert dispatcher.heartbeat("node-a", s.session_id) == pytest.approx(0.2)
        await asyncio.sleep(0.05)
    assert writes.calls == 0
    assert store.get(Node, "node-a").status.state == NodeStatus.READY


async def test_silent_node_goes_down_once_and_comes_back_ready_once(
    dispatcher: Dispatcher, store: Store
) -> None:
    s = await dispatcher.open_session("node-a", description())
    await dispatcher.open_session("node-b", description("host-b"))
    writes = WriteCounter(store)
    # node-b keeps heartbeating, node-a stops
    async def beat_b() -> None:
        sb = dispatcher._sessions["node-b"].id
        while True:
            dispatcher.heartbeat("node-b", sb)
            await asyncio.sleep(0.1)

    beater = asyncio.create_task(beat_b())
    try:
        await eventually(lambda: store.get(Node, "node-a").status.state == NodeStatus.DOWN, 5)
        await asyncio.sleep(1.0)  # several more checks
        assert writes.ops == {"Node": 1}
        node = store.get(Node, "node-a")
        assert node.status.message == "heartbeat failure"
        assert store.get(Node, "node-b").status.state == NodeStatus.READY
        with pytest.raises(SessionInvalid):
            dispatcher.heartbeat("node-a", s.session_id)
        await dispatcher.open_session("node-a", description())
        assert store.get(Node, "node-a").status.state == NodeStatus.READY
        assert writes.ops == {"Node": 2}
    finally:
        beater.cancel()


async def test_heartbeat_period_comes_from_the_cluster(
    dispatcher: Dispatcher, store: Store
) -> None:
    c = Cluster()
    c.spec.annotations.name = "default"
    c.spec.dispatcher.heartbeat_period.FromMilliseconds(700)
    rev = (await store.batch([Create(c)])).revision
    await store.wait_for(rev)
    s = await dispatcher.open_session("node-a", description())
    assert dispatcher.heartbeat("node-a", s.session_id) == pytest.approx(0.7)


async def test_a_node_cannot_use_another_nodes_session(dispatcher: Dispatcher) -> None:
    sb = await dispatcher.open_session("node-b", description("host-b"))
    with pytest.raises(PermissionDenied):
        dispatcher.heartbeat("node-a", sb.session_id)
    with pytest.raises(SessionInvalid):
        dispatcher.heartbeat("node-a", "nonsense")


async def _next(agen: Any, timeout: float = 5.0) -> AssignmentsMessage:
    return await asyncio.wait_for(agen.__anext__(), timeout)


def _ids(msg: AssignmentsMessage, action: int = AssignmentChange.UPDATE) -> set[str]:
    return {c.assignment.task.id for c in msg.changes if c.action == action}


async def test_assignments_complete_then_incremental(dispatcher: Dispatcher, store: Store) -> None:
    mine = [task("node-a", slot=i) for i in range(1, 4)]
    pending = task("", TaskState.PENDING, slot=9)
    unscheduled = task("node-a", TaskState.PENDING, slot=8)  # not ASSIGNED yet: not sent
    other = task("node-b", slot=5)
    shut = task("node-a", TaskState.SHUTDOWN, slot=7, desired=TaskState.SHUTDOWN)
    res = await store.batch([Create(t) for t in [*mine, pending, unscheduled, other, shut]])
    await store.wait_for(res.revision)
    s = await dispatcher.open_session("node-a", description())
    stream = dispatcher.assignments("node-a", s.session_id)

    first = await _next(stream)
    assert first.type == AssignmentsMessage.COMPLETE and first.sequence == 1
    assert _ids(first) == {t.id for t in [*mine, shut]}  # incl. those to shut down

    # a burst of 200 new tasks arrives in few messages
    burst = [task("node-a", slot=100 + i) for i in range(200)]
    await store.batch([Create(t) for t in burst])
    got: set[str] = set()
    seq = 1
    while len(got) < 200:
        msg = await _next(stream)
        assert msg.type == AssignmentsMessage.INCREMENTAL
        assert msg.sequence == seq + 1
        seq = msg.sequence
        got |= _ids(msg)
    assert got == {t.id for t in burst}
    assert seq <= 5, f"200 tasks took {seq - 1} messages"

    # a status-only change (the agent's own report) is not echoed back
    t0 = store.get(Task, mine[0].id)
    t0.status.state = TaskState.RUNNING
    await store.batch([Update(t0)])
    # a desired-state change is sent; a deletion is a REMOVE
    t1 = store.get(Task, mine[1].id)
    t1.desired_state = TaskState.SHUTDOWN
    await store.batch([Update(t1)])
    await store.delete(Task, mine[2].id)
    # the scheduler assigning the unscheduled one makes it appear
    t3 = store.get(Task, unscheduled.id)
    t3.status.state = TaskState.ASSIGNED
    await store.batch([Update(t3)])
    updates: dict[str, Any] = {}
    removes: set[str] = set()
    while len(updates) < 2 or not removes:
        msg = await _next(stream)
        assert msg.sequence == seq + 1
        seq = msg.sequence
        for c in msg.changes:
            if c.action == AssignmentChange.REMOVE:
                removes.add(c.assignment.task.id)
            else:
                updates[c.assignment.task.id] = c.assignment.task
    assert set(updates) == {t1.id, t3.id}
    assert updates[t1.id].desired_state == TaskState.SHUTDOWN
    assert removes == {mine[2].id}
    await stream.aclose()


async def test_status_reports_are_batched(dispatcher: Dispatcher, store: Store) -> None:
    tasks = [task("node-a", slot=i) for i in range(300)]
    res = await store.batch([Create(t) for t in tasks])
    await store.wait_for(res.revision)
    s = await dispatcher.open_session("node-a", description())
    writes = WriteCounter(store)

    async def report(chunk: list[Task], state: int) -> None:
        await dispatcher.update_task_status("node-a", s.session_id, [
            TaskStatusUpdate(task_id=t.id, status=TaskStatus(state=state)) for t in chunk  # type: ignore[arg-type]
        ])

    # 30 agents' worth of concurrent calls, 10 tasks each
    await asyncio.gather(*(report(tasks[i:i + 10], TaskState.RUNNING) for i in range(0, 300, 10)))
    assert writes.ops == {"Task": 300}
    assert writes.calls <= 3, f"{writes.calls} batches for 30 concurrent reports"
    await eventually(lambda: all(
        store.get(Task, t.id).status.state == TaskState.RUNNING for t in tasks))


async def test_status_regressions_are_ignored(dispatcher: Dispatcher, store: Store) -> None:
    t = task("node-a", TaskState.RUNNING)
    await store.wait_for((await store.batch([Create(t)])).revision)
    s = await dispatcher.open_session("node-a", description())
    writes = WriteCounter(store)
    back = TaskStatus(state=TaskState.PREPARING)  # type: ignore[arg-type]
    await dispatcher.update_task_status("node-a", s.session_id,
                                        [TaskStatusUpdate(task_id=t.id, status=back)])
    assert writes.calls == 0
    assert store.get(Task, t.id).status.state == TaskState.RUNNING
    done = TaskStatus(state=TaskState.COMPLETE, message="finished")  # type: ignore[arg-type]
    await dispatcher.update_task_status("node-a", s.session_id,
                                        [TaskStatusUpdate(task_id=t.id, status=done)])
    await eventually(lambda: store.get(Task, t.id).status.state == TaskState.COMPLETE)


async def test_a_node_cannot_update_another_nodes_tasks(
    dispatcher: Dispatcher, store: Store
) -> None:
    mine, theirs = task("node-a"), task("node-b", slot=2)
    await store.wait_for((await store.batch([Create(mine), Create(theirs)])).revision)
    s = await dispatcher.open_session("node-a", description())
    writes = WriteCounter(store)
    running = TaskStatus(state=TaskState.RUNNING)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        await dispatcher.update_task_status("node-a", s.session_id, [
            TaskStatusUpdate(task_id=mine.id, status=running),
            TaskStatusUpdate(task_id=theirs.id, status=running),
        ])
    await asyncio.sleep(0.1)
    assert writes.calls == 0
    assert store.get(Task, theirs.id).status.state == TaskState.ASSIGNED
    assert store.get(Task, mine.id).status.state == TaskState.ASSIGNED


async def test_ready_nodes_without_a_session_go_down_after_a_grace_window(
    store: Store, config: DispatcherConfig
) -> None:
    n = Node(id="ghost")
    n.status.state = NodeStatus.READY
    await store.wait_for((await store.batch([Create(n)])).revision)
    d = Dispatcher(store, config)
    await d.start()
    try:
        await asyncio.sleep(0.3)
        assert store.get(Node, "ghost").status.state == NodeStatus.READY
        await eventually(lambda: store.get(Node, "ghost").status.state == NodeStatus.DOWN, 10)
    finally:
        await d.stop()
