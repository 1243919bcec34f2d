"""What a rolling update follows: its effective UpdateConfig, its states, what counts as failure.

A service without an UpdateConfig (or RollbackConfig) rolls as SwarmKit's
defaults say: one task at a time, no delay, pause on failure, monitor 5 s,
max failure ratio 0, stop-first. A config that is present but leaves
`monitor` unset also monitors 5 s; its parallelism 0 means all at once.

A task *failed the update* when it runs the spec being rolled out and
stopped by itself — COMPLETE, FAILED (a non-zero exit, or unhealthy: the
agent fails an unhealthy task) or REJECTED — after the update started and
within the monitor window after it was first seen RUNNING (never seen
running: it counts). A task the manager stopped ends SHUTDOWN, and one
whose node went away ORPHANED: neither counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shoal.manager.orchestrator.tasks import COMPLETE, FAILED, REJECTED
from shoal.proto.shoal.v1.objects_pb2 import UpdateStatus
from shoal.proto.shoal.v1.types_pb2 import UpdateConfig

US = UpdateStatus
UNKNOWN = US.UNKNOWN
UPDATING = US.UPDATING
PAUSED = US.PAUSED
COMPLETED = US.COMPLETED
ROLLBACK_STARTED = US.ROLLBACK_STARTED
ROLLBACK_PAUSED = US.ROLLBACK_PAUSED
ROLLBACK_COMPLETED = US.ROLLBACK_COMPLETED

# the states in which the supervisor rolls tasks and watches them fail
ACTIVE = frozenset({UPDATING, ROLLBACK_STARTED})
STOPPED = frozenset({PAUSED, ROLLBACK_PAUSED})
ROLLBACK_STATES = frozenset({ROLLBACK_STARTED, ROLLBACK_PAUSED, ROLLBACK_COMPLETED})

PAUSE = UpdateConfig.PAUSE
CONTINUE = UpdateConfig.CONTINUE
ROLLBACK = UpdateConfig.ROLLBACK
START_FIRST = UpdateConfig.START_FIRST

DEFAULT_MONITOR = 5.0
SELF_STOPPED = frozenset({COMPLETE, FAILED, REJECTED})


def seconds(duration: Any) -> float:
    """Return a Duration or Timestamp as float seconds."""
    return float(duration.seconds) + duration.nanos / 1e9


@dataclass(frozen=True)
class Policy:
    """The effective update (or rollback) config of one rollout."""

    parallelism: int = 1  # 0: all at once
    delay: float = 0.0
    monitor: float = DEFAULT_MONITOR
    failure_action: int = PAUSE
    max_failure_ratio: float = 0.0
    start_first: bool = False

    @classmethod
    def of(cls, service: Any, rollback: bool = False) -> Policy:
        """Return the policy SERVICE's spec gives its update (ROLLBACK: its rollback)."""
        name = "rollback" if rollback else "update"
        if not service.spec.HasField(name):
            return cls()
        cfg = getattr(service.spec, name)
        return cls(
            parallelism=int(cfg.parallelism),
            delay=seconds(cfg.delay),
            monitor=seconds(cfg.monitor) if cfg.HasField("monitor") else DEFAULT_MONITOR,
            failure_action=int(cfg.failure_action),
            max_failure_ratio=float(cfg.max_failure_ratio),
            start_first=int(cfg.order) == START_FIRST,
        )


def status_state(service: Any) -> int:
    """Return SERVICE's UpdateStatus state (UNKNOWN when it has none)."""
    return int(service.update_status.state) if service.HasField("update_status") else UNKNOWN


def rolling_back(service: Any) -> bool:
    """Return whether SERVICE's current rollout is a rollback (manual or automatic)."""
    return status_state(service) in ROLLBACK_STATES


def self_stopped(task: Any) -> bool:
    """Return whether TASK stopped by itself (exit, failure, rejection)."""
    return int(task.status.state) in SELF_STOPPED


def too_many(failures: int, units: int, ratio: float) -> bool:
    """Return whether FAILURES out of UNITS exceed the tolerated RATIO (as SwarmKit)."""
    return failures > 0 and failures > ratio * max(units, 1)


def paused_message(task_id: str, rollback: bool) -> str:
    what = "rollback" if rollback else "update"
    return f"{what} paused due to failure or early termination of task {task_id}"


def rolled_back_message(task_id: str) -> str:
    return f"update rolled back due to failure or early termination of task {task_id}"


UPDATING_MESSAGE = "update in progress"
COMPLETED_MESSAGE = "update completed"
ROLLBACK_COMPLETED_MESSAGE = "rollback completed"
