"""The task state machine: drive a Controller and report every state change.

    ASSIGNED -> ACCEPTED -> PREPARING -> READY -> STARTING -> RUNNING
             -> COMPLETE (exit 0) | FAILED (non-zero exit, start error)
    before STARTING, an error REJECTS the task (it cannot run here)
    desired SHUTDOWN/REMOVE -> stop (signal, grace, SIGKILL) -> SHUTDOWN
    desired REMOVE          -> also remove the container

Health (as Docker's swarm executor): a container with a health check stays
STARTING ("starting") until it is healthy, then RUNNING. An unhealthy one,
in STARTING or RUNNING, is stopped and its task FAILED with
"task: non-zero exit (N): unhealthy container"; the orchestrator replaces it
per restart policy.

One TaskRunner per task, as in SwarmKit's exec.Do: it moves one step at a
time from the last reported state, so a runner made after an agent restart
continues where the previous one stopped. A runner resumed in READY,
STARTING or RUNNING first inspects the container: a running one is adopted
and waited for, never restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from shoal.agent.exec.errors import ContainerGone, TaskRejected
from shoal.agent.exec.interfaces import Controller, Observed
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import TaskState, TaskStatus

log = logging.getLogger(__name__)

ACCEPTED = TaskState.ACCEPTED
PREPARING = TaskState.PREPARING
READY = TaskState.READY
STARTING = TaskState.STARTING
RUNNING = TaskState.RUNNING
COMPLETE = TaskState.COMPLETE
SHUTDOWN = TaskState.SHUTDOWN
FAILED = TaskState.FAILED
REJECTED = TaskState.REJECTED
REMOVE = TaskState.REMOVE

Report = Callable[[str, TaskStatus], None]


UNHEALTHY = "unhealthy container"


def exit_status(code: int, cause: str = "") -> tuple[int, str, str]:
    """Return (state, message, err) for a process that exited with CODE.

    CAUSE is why the agent stopped it ("unhealthy container"): such a task
    FAILED even when the process exited 0 on its stop signal.
    """
    if code == 0 and not cause:
        return COMPLETE, "finished", ""
    if code == 0:
        return FAILED, "started", cause
    err = f"task: non-zero exit ({code})"
    return FAILED, "started", f"{err}: {cause}" if cause else err


def grace_of(task: Any) -> float | None:
    """Return the task's stop grace period in seconds (None: the engine's default)."""
    if not task.spec.container.HasField("stop_grace_period"):
        return None
    g = task.spec.container.stop_grace_period
    return float(g.seconds + g.nanos / 1e9)


class TaskRunner:
    """Drives one task from its last reported state towards its desired state."""

    def __init__(
        self,
        task: Task,
        controller: Controller,
        report: Report,
        status: TaskStatus | None = None,
    ) -> None:
        self.task = Task()
        self.task.CopyFrom(task)
        self.controller = controller
        self._report = report
        self.status = TaskStatus()
        self.status.CopyFrom(status if status is not None else task.status)
        self._changed = asyncio.Event()
        self._removed = False
        self.removed = asyncio.Event()  # set once the task's container is removed
        self._job: asyncio.Task[None] | None = None

    @property
    def task_id(self) -> str:
        return str(self.task.id)

    def update(self, task: Task) -> None:
        """Take a newer version of the task (the manager changed its desired state)."""
        changed = task.desired_state != self.task.desired_state
        self.task.CopyFrom(task)
        if changed:
            self._changed.set()

    def start(self) -> None:
        self._job = asyncio.create_task(self.run(), name=f"task-{self.task.id[:12]}")

    async def stop(self) -> None:
        """Stop driving the task; its container keeps running (agent shutdown)."""
        if self._job is not None:
            self._job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._job
            self._job = None

    def done(self) -> bool:
        return self.status.state >= COMPLETE and (self._removed or not self._wants_removal())

    # The state machine.

    async def run(self) -> None:
        try:
            if READY <= self.status.state <= RUNNING:
                await self._readopt()
            while True:
                await self._step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task %s: driver failed", self.task.id)
            raise

    def _wants_removal(self) -> bool:
        return self.task.desired_state >= REMOVE

    async def _step(self) -> None:
        state = self.status.state
        if state >= COMPLETE:
            if self._wants_removal() and not self._removed:
                await self._remove()
            else:
                await self._next_change()
        elif self.task.desired_state > RUNNING:
            await self._shutdown()
        elif state < ACCEPTED:
            self._set(ACCEPTED, "accepted")
        elif state == ACCEPTED:
            self._set(PREPARING, "preparing")
        elif state == PREPARING:
            try:
                await self.controller.prepare(self._progress)
            except Exception as exc:
                self._fail(exc, rejected=True)
                return
            self._set(READY, "prepared")
        elif state == READY:
            self._set(STARTING, "starting")
        elif state == STARTING:
            try:
                obs = await self.controller.start()
            except Exception as exc:
                self._fail(exc, rejected=False)
                return
            health = await self._health_now()
            if health in ("none", "healthy"):
                self._set(RUNNING, "started", observed=obs)
            else:
                await self._watch(health, starting=obs)
        else:
            await self._watch(await self._health_now())

    async def _readopt(self) -> None:
        """Find the container a previous agent left for this task and take it over."""
        try:
            obs = await self.controller.inspect()
        except Exception as exc:
            log.warning("task %s: cannot inspect its container: %s", self.task.id, exc)
            return
        if obs.status == "running":
            if self.status.state == READY:
                self._set(STARTING, "starting")  # start() is a no-op; health decides
            log.info("task %s: re-adopted container %s", self.task.id, obs.container_id[:12])
        elif obs.status == "exited":
            state, message, err = exit_status(obs.exit_code)
            self._set(state, message, err, observed=obs)
        elif obs.status == "created":
            self.status.state = READY  # start it (no report: READY was reported)
        else:
            self._fail(ContainerGone("the task's container is gone"), rejected=False)

    async def _health_now(self) -> str:
        """Return the container's health now ("none": no health check or unknown)."""
        try:
            return await self.controller.health("")
        except Exception as exc:
            log.warning("task %s: cannot read its health: %s", self.task.id, exc)
            return "none"

    async def _watch(self, health: str, starting: Observed | None = None) -> None:
        """Wait for the container's exit, a desired-state change or a change of health.

        STARTING (the container started, not yet healthy): healthy moves the task
        to RUNNING. In either state an unhealthy container is stopped and its
        exit reported as FAILED with the cause "unhealthy container".
        """
        waiter = asyncio.ensure_future(self.controller.wait())
        prober: asyncio.Future[str] | None = None
        cause = ""
        try:
            if health == "unhealthy":
                cause = UNHEALTHY
                await self._stop_unhealthy()
            while not waiter.done():
                if prober is None and health != "none" and not cause:
                    prober = asyncio.ensure_future(self.controller.health(health))
                changed = asyncio.ensure_future(self._changed.wait())
                watched: set[asyncio.Future[Any]] = {waiter, changed}
                if prober is not None:
                    watched.add(prober)
                await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                if not changed.done():
                    changed.cancel()
                else:
                    self._changed.clear()
                    if self.task.desired_state > RUNNING:
                        await self._shutdown()
                        return
                if prober is None or not prober.done() or waiter.done():
                    continue
                try:
                    health = prober.result()
                except Exception as exc:
                    log.warning("task %s: cannot read its health: %s", self.task.id, exc)
                    health = "none"
                prober = None
                if health == "healthy" and starting is not None:
                    self._set(RUNNING, "started", observed=starting)
                    return  # the RUNNING step watches on
                if health == "unhealthy":
                    log.info("task %s: unhealthy container, stopping it", self.task.id)
                    cause = UNHEALTHY
                    await self._stop_unhealthy()
            try:
                code = waiter.result()
            except Exception as exc:
                self._fail(exc, rejected=False)
                return
            state, message, err = exit_status(code, cause)
            cid = self.status.container_status.container_id or (
                starting.container_id if starting is not None else "")
            obs = Observed("exited", container_id=cid, exit_code=code)
            self._set(state, message, err, observed=obs)
        finally:
            for fut in (waiter, prober):
                if fut is not None and not fut.done():
                    fut.cancel()
                    with contextlib.suppress(BaseException):
                        await fut

    async def _stop_unhealthy(self) -> None:
        """Stop an unhealthy container (its exit ends the watch)."""
        try:
            await self.controller.shutdown(grace_of(self.task))
        except Exception as exc:
            log.warning("task %s: stopping the unhealthy container failed: %s",
                        self.task.id, exc)

    async def _shutdown(self) -> None:
        err = ""
        if self.status.state >= PREPARING:
            try:
                await self.controller.shutdown(grace_of(self.task))
            except Exception as exc:
                log.warning("task %s: shutdown failed: %s", self.task.id, exc)
                err = f"shutdown: {exc}"
        self._set(SHUTDOWN, "shutdown", err)

    async def _remove(self) -> None:
        try:
            await self.controller.remove()
        except Exception as exc:
            log.warning("task %s: removing its container failed: %s", self.task.id, exc)
        self._removed = True
        self.removed.set()

    async def _next_change(self) -> None:
        await self._changed.wait()
        self._changed.clear()

    def _progress(self, text: str) -> None:
        """Report how a long prepare step goes ("preparing: pulling 12/40 MB")."""
        if self.status.state == PREPARING:
            self._set(PREPARING, f"preparing: {text}")

    def _fail(self, exc: Exception, *, rejected: bool) -> None:
        state = REJECTED if rejected or isinstance(exc, TaskRejected) else FAILED
        log.info("task %s: %s: %s", self.task.id, TaskState.Name(state), exc)
        self._set(state, TaskState.Name(state).lower(), str(exc) or type(exc).__name__)

    def _set(
        self, state: int, message: str, err: str = "", observed: Observed | None = None
    ) -> None:
        status = TaskStatus(state=state, message=message, err=err)  # type: ignore[arg-type]
        status.timestamp.GetCurrentTime()
        if observed is not None:
            cs = status.container_status
            cs.container_id = observed.container_id
            cs.pid = observed.pid
            cs.exit_code = observed.exit_code
        elif self.status.HasField("container_status"):
            status.container_status.CopyFrom(self.status.container_status)
        self.status = status
        self._report(self.task_id, status)
