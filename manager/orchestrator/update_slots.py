"""Slots as the update supervisor sees them: units, tasks in flight, start-first pairs.

A *unit* is a slot of a replicated service or a node of a global one, as
the orchestrator holds it in a tick. During a start-first update a unit has
two tasks for a while: the new one (`current`) and the outdated one still
running beside it (`old`), shut down once the new one is RUNNING. During a
stop-first update a unit whose old task was told to stop is *waiting*: its
replacement is created once the old task stopped (`stops_first`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from shoal.manager.orchestrator.tasks import RUNNING, is_terminal, never_assigned, node_lost, rank

Outdated = Callable[[Any], bool]


class Unit(Protocol):
    """A slot (or a global service's node) as the orchestrator holds it in a tick."""

    current: Any  # the task occupying it (the new one, while an old one runs beside it)
    replacement: Any  # created in this tick
    old: Any  # start-first: the outdated task still running beside `current`
    waiting: bool  # stop-first: `current` was told to stop; its replacement waits for that

    def task(self) -> Any: ...


def in_flight(task: Any) -> bool:
    """Return whether TASK (with the current spec) is still on its way to RUNNING."""
    return int(task.desired_state) == RUNNING and int(task.status.state) < RUNNING


def split_slot(occupying: Sequence[Any], outdated: Outdated) -> tuple[Any, Any, list[Any]]:
    """Return (current, old, extra) among the tasks occupying one slot.

    CURRENT is the best task; when it runs the current spec and an outdated
    task still runs beside it, that one is OLD (a start-first pair); every
    other task is EXTRA, a duplicate to shut down.
    """
    fresh = [t for t in occupying if not outdated(t)]
    stale = [t for t in occupying if outdated(t)]
    current = max(fresh or stale, key=rank)
    old = None
    if fresh and stale:
        best = max(stale, key=rank)
        if int(best.desired_state) == RUNNING and not is_terminal(best):
            old = best
    return current, old, [t for t in occupying if t is not current and t is not old]


def stops_first(task: Any, node: Any) -> bool:
    """Return whether TASK, just told to stop, must stop before its replacement is made.

    Not when it already stopped, never reached an agent (nothing would ever
    report it stopped), or its node (NODE) is gone.
    """
    return not (is_terminal(task) or never_assigned(task) or not task.node_id or node_lost(node))
