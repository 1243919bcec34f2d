"""The task state machine with the fake executor: states, failures, shutdown, re-adoption."""

from __future__ import annotations

import asyncio

from shoal.agent.exec.driver import TaskRunner
from shoal.agent.exec.fake import FakeConfig, FakeContainer, FakeExecutor
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import TaskState, TaskStatus
from tests.manager.conftest import eventually
from tests.manager.dispatcher.helpers import task

S = TaskState


class Recorder:
    def __init__(self) -> None:
        self.statuses: list[TaskStatus] = []

    def __call__(self, task_id: str, status: TaskStatus) -> None:
        self.statuses.append(status)

    @property
    def states(self) -> list[int]:
        return [s.state for s in self.statuses]


def runner(
    ex: FakeExecutor, t: Task, status: TaskStatus | None = None
) -> tuple[TaskRunner, Recorder]:
    rec = Recorder()
    r = TaskRunner(t, ex.controller(t), rec, status)
    r.start()
    return r, rec


def with_desired(t: Task, desired: int) -> Task:
    out = Task()
    out.CopyFrom(t)
    out.desired_state = desired  # type: ignore[assignment]
    return out


async def test_states_up_to_running_then_shutdown_on_request() -> None:
    ex = FakeExecutor()
    t = task("n", slot=1)
    t.id = "t1"
    r, rec = runner(ex, t)
    try:
        await eventually(lambda: rec.states[-1:] == [S.RUNNING])
        assert rec.states == [S.ACCEPTED, S.PREPARING, S.READY, S.STARTING, S.RUNNING]
        assert rec.statuses[-1].container_status.pid > 0
        r.update(with_desired(t, S.SHUTDOWN))
        await eventually(lambda: rec.states[-1] == S.SHUTDOWN)
        assert ex.containers["t1"].status == "exited"  # stopped, kept
        r.update(with_desired(t, S.REMOVE))
        await asyncio.wait_for(r.removed.wait(), 5)
        assert "t1" not in ex.containers
        assert rec.states.count(S.SHUTDOWN) == 1
    finally:
        await r.stop()


async def test_exit_codes_decide_complete_or_failed() -> None:
    ok, bad = task("n", slot=1), task("n", slot=2)
    ok.id, bad.id = "ok", "bad"
    r1, rec1 = runner(FakeExecutor(FakeConfig(run_for=0.05, exit_code=0)), ok)
    r2, rec2 = runner(FakeExecutor(FakeConfig(run_for=0.05, exit_code=1)), bad)
    try:
        await eventually(
            lambda: rec1.states[-1:] == [S.COMPLETE] and rec2.states[-1:] == [S.FAILED])
        assert rec2.statuses[-1].err == "task: non-zero exit (1)"
        assert rec2.statuses[-1].container_status.exit_code == 1
    finally:
        await r1.stop()
        await r2.stop()


async def test_prepare_errors_reject_and_start_errors_fail() -> None:
    t1, t2 = task("n", slot=1, image="gone:1"), task("n", slot=2)
    t1.id, t2.id = "rej", "fail"
    r1, rec1 = runner(FakeExecutor(FakeConfig(reject_images={"gone:1"})), t1)
    r2, rec2 = runner(FakeExecutor(FakeConfig(fail_start=True)), t2)
    try:
        await eventually(
            lambda: rec1.states[-1:] == [S.REJECTED] and rec2.states[-1:] == [S.FAILED])
        assert "gone:1" in rec1.statuses[-1].err
        assert S.STARTING in rec2.states
    finally:
        await r1.stop()
        await r2.stop()


async def test_a_task_shut_down_before_it_started_is_never_prepared() -> None:
    ex = FakeExecutor()
    t = task("n", desired=S.SHUTDOWN)
    t.id = "early"
    r, rec = runner(ex, t)
    try:
        await eventually(lambda: rec.states == [S.SHUTDOWN])
        assert ex.containers == {}
    finally:
        await r.stop()


async def test_readoption_keeps_a_running_container() -> None:
    ex = FakeExecutor()
    ex.containers["t1"] = FakeContainer(status="running", pid=4242)
    t = task("n")
    t.id = "t1"
    r, rec = runner(ex, t, TaskStatus(state=S.RUNNING))  # type: ignore[arg-type]
    try:
        await asyncio.sleep(0.1)
        assert rec.states == []  # nothing new to say, nothing restarted
        assert ex.containers["t1"].pid == 4242
        ex.controller(t)._exit(ex.containers["t1"], 0)  # it finishes later
        await eventually(lambda: rec.states == [S.COMPLETE])
    finally:
        await r.stop()


async def test_readoption_reports_what_happened_meanwhile() -> None:
    ex = FakeExecutor()
    ex.containers["exited"] = FakeContainer(status="exited", exit_code=3)
    ex.containers["created"] = FakeContainer(status="created")
    jobs = []
    for tid in ("exited", "created", "vanished"):
        t = task("n")
        t.id = tid
        jobs.append(runner(ex, t, TaskStatus(state=S.RUNNING if tid != "created" else S.READY)))  # type: ignore[arg-type]
    (r1, rec1), (r2, rec2), (r3, rec3) = jobs
    try:
        await eventually(lambda: rec1.states == [S.FAILED] and rec2.states[-1:] == [S.RUNNING]
                         and rec3.states == [S.FAILED])
        assert rec1.statuses[0].err == "task: non-zero exit (3)"
        assert rec2.states == [S.STARTING, S.RUNNING]
        assert "gone" in rec3.statuses[0].err
    finally:
        for r, _ in jobs:
            await r.stop()
