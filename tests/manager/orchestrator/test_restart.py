"""The restart supervisor's decisions and the update hook, without a store."""

from __future__ import annotations

import asyncio
import itertools

from shoal.manager.orchestrator import RestartSupervisor, Updater, Verdict
from shoal.proto.shoal.v1.objects_pb2 import Service, Task
from shoal.proto.shoal.v1.types_pb2 import RestartPolicy, TaskState

_ids = itertools.count()


def stopped(
    state: int = TaskState.FAILED, condition: int | None = None, delay: float = 0, **kw: int
) -> Task:
    t = Task(id=f"t{next(_ids)}", service_id="s", slot=1, desired_state=TaskState.RUNNING)
    t.status.state = state  # type: ignore[assignment]
    t.spec_version.index = 1
    if condition is not None:
        t.spec.restart.condition = condition  # type: ignore[assignment]
        t.spec.restart.delay.FromNanoseconds(int(delay * 1e9))
        for k, v in kw.items():
            if k == "window":
                t.spec.restart.window.FromSeconds(v)
            else:
                setattr(t.spec.restart, k, v)
    return t


async def test_no_policy_means_any_exit_after_five_seconds() -> None:
    r = RestartSupervisor()
    t = stopped(TaskState.COMPLETE)
    assert r.decide(t, now=100.0) is Verdict.LATER
    assert r.pending(t.id)
    assert r.decide(t, now=104.0) is Verdict.LATER
    assert r.decide(t, now=105.0) is Verdict.NOW
    r.close()
    assert not r.pending(t.id)


async def test_conditions() -> None:
    r = RestartSupervisor()
    assert r.decide(stopped(TaskState.FAILED, RestartPolicy.NONE), 0) is Verdict.NEVER
    assert r.decide(stopped(TaskState.COMPLETE, RestartPolicy.ON_FAILURE), 0) is Verdict.NEVER
    assert r.decide(stopped(TaskState.FAILED, RestartPolicy.ON_FAILURE), 0) is Verdict.NOW
    assert r.decide(stopped(TaskState.REJECTED, RestartPolicy.ON_FAILURE), 0) is Verdict.NOW
    assert r.decide(stopped(TaskState.COMPLETE, RestartPolicy.ANY), 0) is Verdict.NOW


async def test_max_attempts_and_window() -> None:
    r = RestartSupervisor()
    for i in range(2):
        t = stopped(TaskState.FAILED, RestartPolicy.ANY, max_attempts=2)
        assert r.decide(t, now=float(i)) is Verdict.NOW
        r.restarted(t, now=float(i))
    assert (
        r.decide(stopped(TaskState.FAILED, RestartPolicy.ANY, max_attempts=2), 9) is Verdict.NEVER
    )
    # a new spec version starts counting again
    fresh = stopped(TaskState.FAILED, RestartPolicy.ANY, max_attempts=2)
    fresh.spec_version.index = 2
    assert r.decide(fresh, now=9) is Verdict.NOW

    w = RestartSupervisor()
    t = stopped(TaskState.FAILED, RestartPolicy.ANY, max_attempts=1, window=10)
    assert w.decide(t, now=0) is Verdict.NOW
    w.restarted(t, now=0)
    assert w.decide(stopped(TaskState.FAILED, RestartPolicy.ANY, max_attempts=1, window=10), 5) is (
        Verdict.NEVER
    )
    assert w.decide(
        stopped(TaskState.FAILED, RestartPolicy.ANY, max_attempts=1, window=10), 11
    ) is (Verdict.NOW)


async def test_delay_timer_calls_back_once() -> None:
    due: list[str] = []
    r = RestartSupervisor(on_due=due.append)
    t = stopped(TaskState.FAILED, RestartPolicy.ANY, delay=0.05)
    assert r.decide(t) is Verdict.LATER
    assert r.decide(t) is Verdict.LATER  # asking again arms no second timer
    await asyncio.sleep(0.1)
    assert due == ["s"]
    assert r.decide(t) is Verdict.NOW


def test_updater_honours_parallelism_and_takes_idle_slots_first() -> None:
    svc = Service()
    svc.spec.update.parallelism = 2
    tasks = []
    for slot, state in enumerate([TaskState.RUNNING, TaskState.FAILED, TaskState.RUNNING], 1):
        t = Task(slot=slot, desired_state=TaskState.RUNNING)
        t.status.state = state  # type: ignore[assignment]
        tasks.append(t)
    pick = Updater().select(svc, tasks, lambda t: t, busy=0)
    assert [t.slot for t in pick] == [2, 1]
    assert [t.slot for t in Updater().select(svc, tasks, lambda t: t, busy=1)] == [2]
    assert Updater().select(svc, tasks, lambda t: t, busy=2) == []
    svc.spec.update.parallelism = 0
    assert len(Updater().select(svc, tasks, lambda t: t, busy=5)) == 3
