"""Rolling updates through the replicated orchestrator on a real etcd, with fake agents."""

from __future__ import annotations

from typing import Any

from shoal.manager.orchestrator import ReplicatedOrchestrator
from shoal.manager.orchestrator.loop import LoopConfig
from shoal.manager.scheduler import Scheduler
from shoal.manager.store import Store
from shoal.proto.shoal.v1.objects_pb2 import Service, Task, UpdateStatus
from shoal.proto.shoal.v1.types_pb2 import TaskState, UpdateConfig
from tests.manager.conftest import eventually
from tests.manager.fakes import (
    FakeAgents,
    add_nodes,
    create_service,
    live,
    make_service,
    running,
    running_tasks,
    settle,
    update_service,
)

FAST = LoopConfig(debounce=0.002)
US = UpdateStatus
UC = UpdateConfig


def _service(store: Store, sid: str) -> Any:
    return store.cache.get(Service, sid)


def _policy(svc: Service, **kw: Any) -> None:
    monitor = kw.pop("monitor", 0.2)
    delay = kw.pop("delay", 0.0)
    svc.spec.update.CopyFrom(UC(**kw))
    svc.spec.update.monitor.FromNanoseconds(int(monitor * 1e9))
    svc.spec.update.delay.FromNanoseconds(int(delay * 1e9))
    svc.spec.rollback.CopyFrom(UC(parallelism=2))
    svc.spec.rollback.monitor.FromNanoseconds(int(monitor * 1e9))


def _on(store: Store, sid: str, version: int) -> list[Any]:
    return [t for t in running_tasks(store, sid) if t.spec_version.index == version]


async def test_start_first_never_runs_fewer_than_the_replicas(store: Store) -> None:
    await add_nodes(store, 2)
    svc = make_service("web", 4)
    _policy(svc, parallelism=2, order=UC.START_FIRST)
    svc = await create_service(store, svc)
    agents = FakeAgents(store, FAST)
    async with running(
        ReplicatedOrchestrator(store, config=FAST), Scheduler(store, config=FAST), agents
    ):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 4)
        # replay every task change: observed RUNNING never drops below 4
        up = {t.id for t in running_tasks(store, svc.id)}
        lowest = len(up)
        with store.subscribe(Task) as sub:
            await update_service(store, svc.id, lambda s: s.spec.task.container.env.append("V=2"))
            await eventually(lambda: _service(store, svc.id).update_status.state == US.COMPLETED)
            while (ev := sub.get_nowait()) is not None:
                t: Any = ev.obj
                if t.status.state == TaskState.RUNNING:
                    up.add(t.id)
                else:
                    up.discard(t.id)
                lowest = min(lowest, len(up))
        assert lowest == 4
        assert len(_on(store, svc.id, 2)) == 4 and len(live(store, svc.id)) == 4
        assert _service(store, svc.id).update_status.message == "update completed"


async def test_failing_update_rolls_back_automatically(store: Store) -> None:
    await add_nodes(store, 2)
    svc = make_service("web", 4)
    _policy(svc, parallelism=2, failure_action=UC.ROLLBACK, monitor=5.0)
    svc = await create_service(store, svc)
    agents = FakeAgents(store, FAST)
    async with running(
        ReplicatedOrchestrator(store, config=FAST), Scheduler(store, config=FAST), agents
    ):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 4)

        def change(s: Any) -> None:
            s.previous_spec.CopyFrom(s.spec)
            s.previous_spec_version.CopyFrom(s.spec_version)
            s.spec.task.container.image = "broken"
            s.ClearField("update_status")

        with store.subscribe(Service) as sub:
            await update_service(store, svc.id, change)
            await eventually(lambda: bool(_on(store, svc.id, 2)))
            await agents.fail(_on(store, svc.id, 2))
            await eventually(
                lambda: _service(store, svc.id).update_status.state == US.ROLLBACK_COMPLETED
            )
            seen = []
            while (ev := sub.get_nowait()) is not None:
                seen.append((ev.obj.update_status.state, ev.obj.update_status.message))  # type: ignore[attr-defined]
        states = [state for state, _ in seen]
        assert states.index(US.UPDATING) < states.index(US.ROLLBACK_STARTED)
        started = dict(seen)[US.ROLLBACK_STARTED]
        assert started.startswith("update rolled back due to failure or early termination")
        back = _service(store, svc.id)
        assert back.spec.task.container.image == "busybox" and back.spec_version.index == 1
        assert back.update_status.message == "rollback completed"
        await eventually(lambda: len(_on(store, svc.id, 1)) == 4)
        assert len(live(store, svc.id)) == 4


async def test_failure_pauses_and_a_new_spec_resumes(store: Store) -> None:
    await add_nodes(store, 1)
    svc = make_service("web", 3)
    # one slot, then a long delay: the failure comes within the monitor, before slot 2
    _policy(svc, parallelism=1, monitor=30.0, delay=60.0)
    svc = await create_service(store, svc)
    agents = FakeAgents(store, FAST)
    async with running(
        ReplicatedOrchestrator(store, config=FAST), Scheduler(store, config=FAST), agents
    ):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 3)
        await update_service(store, svc.id, lambda s: s.spec.task.container.env.append("V=2"))
        await eventually(lambda: bool(_on(store, svc.id, 2)))
        await agents.fail(_on(store, svc.id, 2), TaskState.FAILED)
        await eventually(lambda: _service(store, svc.id).update_status.state == US.PAUSED)
        paused = _service(store, svc.id)
        assert paused.update_status.message.startswith("update paused due to failure")

        def on_old() -> int:
            return len([t for t in live(store, svc.id) if t.spec_version.index == 1])

        await settle(0.3)
        assert on_old() == 2  # nothing more is rolled while paused
        assert _service(store, svc.id).update_status.state == US.PAUSED

        def fix(s: Any) -> None:
            s.spec.task.container.env.append("V=3")
            s.spec.update.delay.Clear()
            s.spec.update.monitor.FromNanoseconds(200_000_000)
            s.ClearField("update_status")

        await update_service(store, svc.id, fix)
        await eventually(lambda: _service(store, svc.id).update_status.state == US.COMPLETED)
        assert len(_on(store, svc.id, 3)) == 3 and len(live(store, svc.id)) == 3


async def test_scaling_is_not_an_update(store: Store) -> None:
    await add_nodes(store, 1)
    svc = await create_service(store, make_service("web", 1))
    agents = FakeAgents(store, FAST)
    async with running(
        ReplicatedOrchestrator(store, config=FAST), Scheduler(store, config=FAST), agents
    ):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 1)
        await update_service(store, svc.id, lambda s: setattr(s.spec.replicated, "replicas", 3))
        await eventually(lambda: len(running_tasks(store, svc.id)) == 3)
        assert not _service(store, svc.id).HasField("update_status")


async def test_a_new_leader_resumes_the_update_where_it_was(store: Store) -> None:
    await add_nodes(store, 2)
    svc = make_service("web", 4)
    _policy(svc, parallelism=1)
    svc = await create_service(store, svc)
    agents, sched = FakeAgents(store, FAST), Scheduler(store, config=FAST)
    async with running(sched, agents):
        async with running(ReplicatedOrchestrator(store, config=FAST)):
            await eventually(lambda: len(running_tasks(store, svc.id)) == 4)
            await update_service(store, svc.id, lambda s: s.spec.task.container.env.append("V=2"))
            await eventually(lambda: len(_on(store, svc.id, 2)) >= 1)
        # the leader is gone mid-update: what it did is in the store
        done = {t.id for t in _on(store, svc.id, 2)}
        assert _service(store, svc.id).update_status.state == US.UPDATING
        started = _service(store, svc.id).update_status.started_at
        async with running(ReplicatedOrchestrator(store, config=FAST)):
            await eventually(lambda: _service(store, svc.id).update_status.state == US.COMPLETED)
        assert done <= {t.id for t in live(store, svc.id)}  # no updated slot was redone
        assert len(_on(store, svc.id, 2)) == 4 and len(live(store, svc.id)) == 4
        assert _service(store, svc.id).update_status.started_at == started


async def test_stop_first_creates_a_new_task_only_once_the_old_one_stopped(store: Store) -> None:
    await add_nodes(store, 2)
    svc = make_service("web", 4)
    _policy(svc, parallelism=2)
    svc = await create_service(store, svc)
    agents = FakeAgents(store, FAST)
    async with running(
        ReplicatedOrchestrator(store, config=FAST), Scheduler(store, config=FAST), agents
    ):
        await eventually(lambda: len(running_tasks(store, svc.id)) == 4)
        state = {t.id: (t.slot, int(t.status.state)) for t in live(store, svc.id)}
        early = []
        with store.subscribe(Task) as sub:
            await update_service(store, svc.id, lambda s: s.spec.task.container.env.append("V=2"))
            await eventually(lambda: _service(store, svc.id).update_status.state == US.COMPLETED)
            while (ev := sub.get_nowait()) is not None:
                t: Any = ev.obj
                if t.spec_version.index == 2 and t.id not in state:
                    alive = [i for i, (s, st) in state.items() if s == t.slot and st <= 512]
                    early += alive  # an old task of this slot had not stopped yet
                state[t.id] = (t.slot, int(t.status.state))
        assert early == []
        assert len(_on(store, svc.id, 2)) == 4 and len(live(store, svc.id)) == 4
