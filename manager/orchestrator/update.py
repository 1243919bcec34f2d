"""The update supervisor: how a service's outdated tasks are rolled to its current spec.

The orchestrators (replicated.py, global_.py) ask `Updater.decide` once per
reconcile of a service, with its *units* (slots, or nodes of a global
service). The answer says which units get a new task now, which old tasks
to shut down, and which UpdateStatus to write (update_status.py):

- batches: at most `parallelism` units in flight (0: all at once); a unit is
  in flight while its new task has not reached RUNNING, or (start-first)
  while its old task still runs beside it. With a `delay`, the next batch
  starts only when the whole batch runs and `delay` has passed since the
  last of its tasks was seen RUNNING; without, a unit starts as soon as
  another lands (SwarmKit's workers).
- order: stop-first shuts the old task down, and the orchestrator creates
  the replacement once it stopped (`hold`/`stopping`; the unit is *waiting*
  and in flight meanwhile); start-first creates the replacement beside it and shuts the
  old one down once the new one is RUNNING (the slot has two tasks
  meanwhile; `split_slot` tells the pair from a duplicate).
- monitor: a new task that stops by itself within `monitor` of running
  (update_policy.py) is a failure; more than `max_failure_ratio` of the
  units failed triggers `failure_action`: pause (PAUSED, nothing more is
  rolled until the spec changes), continue, or rollback (previous spec back,
  ROLLBACK_STARTED, rolled with the rollback config; a failing rollback
  pauses). After the last batch the update stays UPDATING until every new
  task has run for `monitor`, then COMPLETED ("update completed"; a
  rollback: ROLLBACK_COMPLETED, "rollback completed").
- an update starts (UPDATING, started_at) when a service without status has
  outdated units; a spec change that outdates nothing (replicas, labels)
  starts none, and a service whose status ended (COMPLETED) rolls a late
  outdated unit (a node back from DOWN) without a new status.

What is remembered in memory only refines the store's picture: since when
each new task runs (its RUNNING status timestamp, at most the time it was
first seen), and the failures seen (history the reaper may delete). Times
come from CLOCK (wall-clock seconds, comparable with the stored timestamps);
`on_due(service_id)` is called when a delay or monitor window ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shoal.manager.orchestrator.tasks import RUNNING, is_terminal
from shoal.manager.orchestrator.update_policy import (
    ACTIVE,
    COMPLETED,
    COMPLETED_MESSAGE,
    CONTINUE,
    PAUSED,
    ROLLBACK,
    ROLLBACK_COMPLETED,
    ROLLBACK_COMPLETED_MESSAGE,
    ROLLBACK_PAUSED,
    ROLLBACK_STARTED,
    STOPPED,
    UNKNOWN,
    UPDATING,
    UPDATING_MESSAGE,
    Policy,
    paused_message,
    rolled_back_message,
    rolling_back,
    seconds,
    self_stopped,
    status_state,
    too_many,
)
from shoal.manager.orchestrator.update_slots import Outdated, in_flight, split_slot
from shoal.manager.orchestrator.update_status import StatusChange

T = TypeVar("T")
__all__ = ["Decision", "Updater", "in_flight", "split_slot"]


@dataclass
class Decision:
    """What the orchestrator does about a service's rollout in this tick."""

    replace: list[Any] = field(default_factory=list)  # units that get a new task now
    retire: list[Any] = field(default_factory=list)  # old tasks to shut down
    start_first: bool = False  # keep the replaced units' tasks until the new ones run
    status: StatusChange | None = None  # to write to the service
    active: bool = False  # a rollout runs: every task event of the service matters
    wake_at: float | None = None  # look again then (a delay or monitor window ends)


@dataclass
class _Memory:
    """What one leader saw of a rollout (a service at one spec version)."""

    version: int
    seen: dict[str, float] = field(default_factory=dict)  # task id -> first seen RUNNING
    failed: dict[str, float] = field(default_factory=dict)  # task id -> failure seen


class Updater:
    """Decides each service's rollout; one per orchestrator (it owns the timers)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        on_due: Callable[[str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.on_due = on_due
        self._memory: dict[str, _Memory] = {}
        # stop-first: service id -> {slot or node id: old task id} whose replacement
        # waits for the old task to stop (a new leader, knowing none, creates at once)
        self._stopping: dict[str, dict[Any, str]] = {}
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}

    # The decision.

    def decide(
        self,
        service: Any,
        units: Sequence[Any],
        tasks: Iterable[Any],
        outdated: Outdated,
        can_replace: Callable[[Any], bool] | None = None,
        now: float | None = None,
    ) -> Decision:
        """Return what to do now about SERVICE's rollout.

        UNITS are its slots; TASKS all its tasks (history included, for the
        failures); OUTDATED tells whether a task runs an old spec;
        CAN_REPLACE whether a unit may get a new task (a global service's
        paused node may not).
        """
        now = self.clock() if now is None else now
        state = status_state(service)
        back = rolling_back(service)
        policy = Policy.of(service, back)
        mem = self._remember(service, units, outdated, now)
        out = Decision(start_first=policy.start_first)
        for u in units:
            new = u.task()
            if u.old is not None and (is_terminal(u.old) or _runs(new)):
                out.retire.append(u.old)
        stale = [
            u
            for u in units
            if u.replacement is None
            and u.old is None
            and not u.waiting
            and outdated(u.current)
            and (can_replace is None or can_replace(u))
        ]
        busy = [
            u
            for u in units
            if u.waiting
            or (
                not outdated(u.task())
                and (in_flight(u.task()) or (u.old is not None and u.old not in out.retire))
            )
        ]
        if state in STOPPED or (state == UNKNOWN and not stale):
            return out
        started_at = seconds(service.update_status.started_at)
        if state == UNKNOWN:
            out.status = StatusChange(UPDATING, UPDATING_MESSAGE, started=True)
            started_at = now
        tracking = state in ACTIVE or state == UNKNOWN
        out.active = tracking or bool(stale or busy)
        if tracking:
            culprit = self._failure(service, tasks, mem, policy, started_at, len(units), now)
            if culprit:
                verdict = self._on_failure(service, policy, culprit, back)
                if verdict is not None:
                    out.status = verdict
                    out.active = verdict.rollback
                    return out
        if stale:
            pick = self._budget(policy, stale, busy, mem, started_at, now, out)
            out.replace = self.select(service, stale, _task_of, len(busy), pick)
        elif tracking and not busy:
            end = max((t + policy.monitor for t in self._started(mem, started_at)), default=0.0)
            if now < end:
                out.wake_at = end
            elif back:
                out.status = StatusChange(
                    ROLLBACK_COMPLETED, ROLLBACK_COMPLETED_MESSAGE, completed=True
                )
            else:
                out.status = StatusChange(COMPLETED, COMPLETED_MESSAGE, completed=True)
        return out

    def select(
        self,
        service: Any,
        outdated: Sequence[T],
        task_of: Callable[[T], Any],
        busy: int,
        budget: int | None = None,
    ) -> list[T]:
        """Return the members of OUTDATED to replace now: idle slots first, then by slot.

        TASK_OF gives a member's current task; BUSY is how many units are in
        flight; BUDGET (default: parallelism minus BUSY) caps the answer.
        """
        if budget is None:
            parallelism = Policy.of(service, rolling_back(service)).parallelism
            budget = len(outdated) if parallelism == 0 else parallelism - busy
        if budget <= 0:
            return []

        def order(item: T) -> tuple[bool, int]:
            t = task_of(item)
            return (_runs(t), int(t.slot))

        return sorted(outdated, key=order)[:budget]

    # Parts of the decision.

    def _remember(
        self, service: Any, units: Sequence[Any], outdated: Outdated, now: float
    ) -> _Memory:
        version = int(service.spec_version.index)
        mem = self._memory.get(service.id)
        if mem is None or mem.version != version:
            mem = self._memory[service.id] = _Memory(version)
        for u in units:
            t = u.task()
            if _runs(t) and not outdated(t) and t.id not in mem.seen:
                # its status says since when it runs (a new leader resumes the
                # windows); never later than now, whatever the agent's clock says
                mem.seen[t.id] = min(now, seconds(t.status.timestamp) or now)
        return mem

    @staticmethod
    def _started(mem: _Memory, started_at: float) -> list[float]:
        """Return when the tasks of this rollout were first seen RUNNING."""
        return [t for t in mem.seen.values() if t >= started_at]

    def _budget(
        self,
        policy: Policy,
        stale: Sequence[Any],
        busy: Sequence[Any],
        mem: _Memory,
        started_at: float,
        now: float,
        out: Decision,
    ) -> int:
        if policy.parallelism == 0:
            return len(stale)
        budget = policy.parallelism - len(busy)
        if policy.delay > 0 and budget > 0:
            if busy:
                return 0  # the batch is not done yet
            last = max(self._started(mem, started_at), default=None)
            if last is not None and now < last + policy.delay:
                out.wake_at = last + policy.delay
                return 0
        return budget

    def _failure(
        self,
        service: Any,
        tasks: Iterable[Any],
        mem: _Memory,
        policy: Policy,
        started_at: float,
        units: int,
        now: float,
    ) -> str:
        """Return the id of the latest failure if failures exceed the ratio, else ""."""
        version = int(service.spec_version.index)
        for t in tasks:
            if t.id in mem.failed or int(t.spec_version.index) != version or not self_stopped(t):
                continue
            if seconds(t.status.timestamp) < started_at:
                continue  # failed before this rollout began
            ran = mem.seen.get(t.id)
            if ran is not None and now - ran > policy.monitor:
                continue  # it ran longer than the monitor window: a plain restart
            mem.failed[t.id] = now
        if not too_many(len(mem.failed), units, policy.max_failure_ratio):
            return ""
        return max(mem.failed, key=lambda k: mem.failed[k])

    @staticmethod
    def _on_failure(service: Any, policy: Policy, culprit: str, back: bool) -> StatusChange | None:
        action = policy.failure_action
        if action == CONTINUE:
            return None
        if action == ROLLBACK and not back and service.HasField("previous_spec"):
            return StatusChange(
                ROLLBACK_STARTED, rolled_back_message(culprit), started=True, rollback=True
            )
        return StatusChange(ROLLBACK_PAUSED if back else PAUSED, paused_message(culprit, back))

    # Stop-first slots waiting for their old task.

    def stopping(self, service_id: str) -> dict[Any, str]:
        """Return {unit key: old task id} of SERVICE_ID's units waiting for a stop."""
        return dict(self._stopping.get(service_id, {}))

    def hold(self, service_id: str, key: Any, task_id: str) -> None:
        """Keep unit KEY free of a new task until TASK_ID stopped."""
        self._stopping.setdefault(service_id, {})[key] = task_id

    def release(self, service_id: str, key: Any) -> None:
        held = self._stopping.get(service_id)
        if held is not None:
            held.pop(key, None)
            if not held:
                del self._stopping[service_id]

    # Timers and memory.

    def arm(self, service_id: str, at: float) -> None:
        """Call on_due(SERVICE_ID) at AT (clock time), unless an earlier call is armed."""
        entry = self._timers.get(service_id)
        if entry is not None and entry[0] <= at and not entry[1].cancelled():
            return
        if entry is not None:
            entry[1].cancel()
        delay = max(0.0, at - self.clock())
        handle = asyncio.get_running_loop().call_later(delay, self._fire, service_id)
        self._timers[service_id] = (at, handle)

    def forget_service(self, service_id: str) -> None:
        self._memory.pop(service_id, None)
        self._stopping.pop(service_id, None)
        entry = self._timers.pop(service_id, None)
        if entry is not None:
            entry[1].cancel()

    def close(self) -> None:
        """Cancel every timer and forget every rollout (the leader's term ended)."""
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._memory.clear()
        self._stopping.clear()

    def _fire(self, service_id: str) -> None:
        self._timers.pop(service_id, None)
        if self.on_due is not None:
            self.on_due(service_id)


def _runs(task: Any) -> bool:
    return int(task.status.state) == RUNNING and int(task.desired_state) == RUNNING


def _task_of(unit: Any) -> Any:
    return unit.current
