"""The restart supervisor: whether and when a task that stopped by itself is replaced.

An orchestrator asks `decide(task)` about a task whose observed state became
terminal while its desired state is RUNNING. The task's RestartPolicy
answers (no policy at all means Docker's default: any exit, 5 s, unlimited):

- NEVER: condition `none`, condition `on-failure` after a clean exit, or
  `max_attempts` restarts already made in this slot (within `window`, if
  set). The orchestrator then marks the task desired COMPLETE: it keeps its
  slot, and nothing is started again until the service spec changes.
- LATER: the delay has not passed since this manager first saw the task
  stopped. An asyncio timer (one `call_at` handle, not a sleeping coroutine)
  marks the service due and wakes the orchestrator, which asks again.
- NOW: the orchestrator shuts the old task down and creates the
  replacement in the same slot (global: on the same node) in one batch, and
  calls `restarted()` once that write succeeded.

The delay is measured from when this manager first saw the failure, so a new
leader waits at most one delay again. Restart counts live in memory, per
slot and spec version (as in SwarmKit): a new spec starts a fresh count, and
so does a new leader.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shoal.manager.orchestrator.tasks import COMPLETE, slot_key
from shoal.proto.shoal.v1.types_pb2 import RestartPolicy

DEFAULT_DELAY = 5.0
# asyncio may fire a timer up to its clock resolution early; a restart that
# is due within this margin happens now rather than re-arming the timer.
_EARLY = 0.001
ANY = RestartPolicy.ANY
ON_FAILURE = RestartPolicy.ON_FAILURE
NONE = RestartPolicy.NONE


class Verdict(enum.Enum):
    NOW = "now"
    LATER = "later"
    NEVER = "never"


@dataclass
class _History:
    spec_version: int
    total: int = 0
    times: deque[float] = field(default_factory=deque)


def _seconds(duration: Any) -> float:
    return float(duration.seconds) + duration.nanos / 1e9


class RestartSupervisor:
    """Restart decisions, delays (timers) and per-slot restart history, for one orchestrator."""

    def __init__(self, on_due: Callable[[str], None] | None = None) -> None:
        # on_due(service_id) is called when a delayed restart of that service is due.
        self.on_due = on_due
        self._seen: dict[str, float] = {}  # task id -> when first seen stopped
        self._timers: dict[str, tuple[str, asyncio.TimerHandle]] = {}
        self._history: dict[tuple[str, str], _History] = {}

    @staticmethod
    def policy(task: Any) -> RestartPolicy:
        if task.spec.HasField("restart"):
            return task.spec.restart
        return RestartPolicy(condition=ANY)

    @staticmethod
    def delay(policy: RestartPolicy) -> float:
        return _seconds(policy.delay) if policy.HasField("delay") else DEFAULT_DELAY

    def should_restart(self, task: Any, now: float) -> bool:
        """Return whether TASK's policy allows one more replacement."""
        policy = self.policy(task)
        if policy.condition == NONE:
            return False
        if policy.condition == ON_FAILURE and int(task.status.state) == COMPLETE:
            return False
        if not policy.max_attempts:
            return True
        hist = self._history.get((task.service_id, slot_key(task)))
        if hist is None or hist.spec_version != int(task.spec_version.index):
            return True
        if policy.HasField("window") and _seconds(policy.window) > 0:
            horizon = now - _seconds(policy.window)
            while hist.times and hist.times[0] <= horizon:
                hist.times.popleft()
            return len(hist.times) < policy.max_attempts
        return hist.total < policy.max_attempts

    def decide(self, task: Any, now: float | None = None) -> Verdict:
        """Return what to do with TASK, stopped by itself while desired RUNNING."""
        now = asyncio.get_running_loop().time() if now is None else now
        if not self.should_restart(task, now):
            self.forget(task.id)
            return Verdict.NEVER
        due = self._seen.setdefault(task.id, now) + self.delay(self.policy(task))
        if due <= now + _EARLY:
            return Verdict.NOW
        if task.id not in self._timers:
            handle = asyncio.get_running_loop().call_at(due, self._fire, task.id)
            self._timers[task.id] = (task.service_id, handle)
        return Verdict.LATER

    def restarted(self, task: Any, now: float | None = None) -> None:
        """Record that TASK was replaced (its replacement is stored)."""
        now = asyncio.get_running_loop().time() if now is None else now
        self.forget(task.id)
        key = (task.service_id, slot_key(task))
        version = int(task.spec_version.index)
        hist = self._history.get(key)
        if hist is None or hist.spec_version != version:
            hist = self._history[key] = _History(version)
        hist.total += 1
        hist.times.append(now)

    def pending(self, task_id: str) -> bool:
        """Return whether a delayed restart of TASK_ID is waiting."""
        return task_id in self._timers

    def forget(self, task_id: str) -> None:
        """Drop what is known about TASK_ID (replaced, removed, or restarted by hand)."""
        self._seen.pop(task_id, None)
        entry = self._timers.pop(task_id, None)
        if entry is not None:
            entry[1].cancel()

    def forget_service(self, service_id: str) -> None:
        for key in [k for k in self._history if k[0] == service_id]:
            del self._history[key]
        for task_id in [t for t, (s, _) in self._timers.items() if s == service_id]:
            self.forget(task_id)

    def close(self) -> None:
        """Cancel every timer (the leader's term ended)."""
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._seen.clear()

    def _fire(self, task_id: str) -> None:
        entry = self._timers.pop(task_id, None)
        if entry is not None and self.on_due is not None:
            self.on_due(entry[0])
