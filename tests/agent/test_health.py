"""Health gating in the task driver, with a controller whose health the test sets.

A task with a health check stays STARTING until healthy; an unhealthy
container (starting or running) is stopped and its task FAILED with the cause.
"""

from __future__ import annotations

import asyncio
from typing import Any

from shoal.agent.exec.driver import TaskRunner, exit_status
from shoal.agent.exec.interfaces import Observed
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import TaskState, TaskStatus
from tests.manager.conftest import eventually

S = TaskState


class HealthController:
    """A container whose health and exit the test decides."""

    def __init__(self, health: str = "starting", running: bool = False) -> None:
        self._health = health
        self.changed = asyncio.Event()
        self.exited = asyncio.Event()
        self.exit_code = 0
        self.running = running
        self.starts = 0
        self.shutdowns: list[float | None] = []

    def set_health(self, health: str) -> None:
        self._health = health
        self.changed.set()

    def exit(self, code: int) -> None:
        self.running, self.exit_code = False, code
        self.exited.set()

    async def prepare(self, progress: Any = None) -> None:
        return None

    async def start(self) -> Observed:
        self.starts += 1
        self.running = True
        return Observed("running", "c1", 42)

    async def health(self, last: str) -> str:
        while self._health == last:
            self.changed.clear()
            await self.changed.wait()
        return self._health

    async def wait(self) -> int:
        await self.exited.wait()
        return self.exit_code

    async def shutdown(self, grace: float | None) -> None:
        self.shutdowns.append(grace)
        if self.running:
            self.exit(143)

    async def remove(self) -> None:
        return None

    async def inspect(self) -> Observed:
        return Observed("running" if self.running else "absent", "c1", 42)


class Run:
    """A TaskRunner on a HealthController, recording every report."""

    def __init__(self, ctl: HealthController, state: int = S.ASSIGNED) -> None:
        self.ctl = ctl
        self.task = Task(id="t1", service_id="s1", slot=1, desired_state=S.RUNNING)
        self.task.status.state = state  # type: ignore[assignment]
        self.reports: list[TaskStatus] = []
        self.runner = TaskRunner(self.task, ctl, lambda _id, st: self.reports.append(st))

    @property
    def states(self) -> list[int]:
        return [r.state for r in self.reports]

    async def __aenter__(self) -> Run:
        self.runner.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.stop()


async def test_task_stays_starting_until_healthy() -> None:
    ctl = HealthController("starting")
    async with Run(ctl) as run:
        await eventually(lambda: run.states[-1:] == [S.STARTING])
        await asyncio.sleep(0.05)
        assert run.states[-1] == S.STARTING and ctl.starts == 1
        assert run.reports[-1].message == "starting"
        ctl.set_health("healthy")
        await eventually(lambda: run.states[-1:] == [S.RUNNING])
        assert run.reports[-1].container_status.pid == 42
        assert run.states == [S.ACCEPTED, S.PREPARING, S.READY, S.STARTING, S.RUNNING]


async def test_no_health_check_runs_at_once() -> None:
    ctl = HealthController("none")
    async with Run(ctl) as run:
        await eventually(lambda: run.states[-1:] == [S.RUNNING])
        ctl.exit(1)
        await eventually(lambda: run.states[-1:] == [S.FAILED])
        assert run.reports[-1].err == "task: non-zero exit (1)"


async def test_unhealthy_running_container_is_stopped_and_its_task_fails() -> None:
    ctl = HealthController("healthy")
    async with Run(ctl) as run:
        run.task.spec.container.stop_grace_period.FromSeconds(3)
        run.runner.update(run.task)
        await eventually(lambda: run.states[-1:] == [S.RUNNING])
        ctl.set_health("unhealthy")
        await eventually(lambda: run.states[-1:] == [S.FAILED])
        assert ctl.shutdowns == [3.0]
        last = run.reports[-1]
        assert last.err == "task: non-zero exit (143): unhealthy container"
        assert last.container_status.exit_code == 143
        assert last.container_status.container_id == "c1"
        assert run.states.count(S.FAILED) == 1


async def test_unhealthy_while_starting_fails_without_running() -> None:
    ctl = HealthController("starting")
    async with Run(ctl) as run:
        await eventually(lambda: run.states[-1:] == [S.STARTING])
        ctl.set_health("unhealthy")
        await eventually(lambda: run.states[-1:] == [S.FAILED])
        assert S.RUNNING not in run.states
        assert run.reports[-1].err.endswith("unhealthy container")
        assert len(ctl.shutdowns) == 1


async def test_exit_before_healthy_fails_by_exit_code() -> None:
    ctl = HealthController("starting")
    async with Run(ctl) as run:
        await eventually(lambda: run.states[-1:] == [S.STARTING])
        ctl.exit(2)
        await eventually(lambda: run.states[-1:] == [S.FAILED])
        assert run.reports[-1].err == "task: non-zero exit (2)"
        assert run.reports[-1].container_status.container_id == "c1"
        assert not ctl.shutdowns


async def test_shutdown_requested_while_starting() -> None:
    ctl = HealthController("starting")
    async with Run(ctl) as run:
        await eventually(lambda: run.states[-1:] == [S.STARTING])
        t = Task()
        t.CopyFrom(run.task)
        t.desired_state = S.SHUTDOWN  # type: ignore[assignment]
        run.runner.update(t)
        await eventually(lambda: run.states[-1:] == [S.SHUTDOWN])
        assert S.RUNNING not in run.states and S.FAILED not in run.states


async def test_readopted_starting_container_waits_for_health_again() -> None:
    ctl = HealthController("starting", running=True)
    async with Run(ctl, state=S.STARTING) as run:
        await asyncio.sleep(0.05)
        assert run.states == []  # nothing new to say yet
        ctl.set_health("healthy")
        await eventually(lambda: run.states[-1:] == [S.RUNNING])
        assert ctl.starts == 1  # start() of a running container does nothing


async def test_readopted_running_container_found_unhealthy() -> None:
    ctl = HealthController("unhealthy", running=True)
    async with Run(ctl, state=S.RUNNING) as run:
        await eventually(lambda: run.states[-1:] == [S.FAILED])
        assert run.reports[-1].err == "task: non-zero exit (143): unhealthy container"


def test_exit_status_with_a_cause_is_a_failure_even_for_exit_0() -> None:
    assert exit_status(0) == (S.COMPLETE, "finished", "")
    assert exit_status(0, "unhealthy container") == (S.FAILED, "started", "unhealthy container")
    assert exit_status(137, "unhealthy container")[2] == (
        "task: non-zero exit (137): unhealthy container")
