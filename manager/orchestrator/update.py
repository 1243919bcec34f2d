"""The update hook: which outdated tasks to replace now when a service spec changes.

For now a simple stop-first rollout: an outdated task is shut down and its
replacement (with the new spec) created in the same slot in one batch, at
most `UpdateConfig.parallelism` slots at a time (0: all at once). A slot
counts as in flight while its new task has not reached RUNNING; the
orchestrator asks again whenever a task of an updating service changes.
Slots whose task does not run (pending, failed, finished) go first.

The full rolling update (delay between batches, monitor period, failure
action pause|continue|rollback, max failure ratio, start-first order,
UpdateStatus) replaces `Updater.select`, keeping this signature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from shoal.manager.orchestrator.tasks import RUNNING, is_terminal

T = TypeVar("T")


def in_flight(task: Any) -> bool:
    """Return whether TASK (with the current spec) is still on its way to RUNNING."""
    return int(task.desired_state) == RUNNING and int(task.status.state) < RUNNING


class Updater:
    """Chooses the outdated slots to replace in this tick."""

    def select(
        self,
        service: Any,
        outdated: Sequence[T],
        task_of: Callable[[T], Any],
        busy: int,
    ) -> list[T]:
        """Return the members of OUTDATED to replace now.

        TASK_OF gives a member's current task; BUSY is how many slots already
        run the new spec but are not RUNNING yet.
        """
        parallelism = int(service.spec.update.parallelism)
        budget = len(outdated) if parallelism == 0 else max(0, parallelism - busy)
        if budget <= 0:
            return []

        def order(item: T) -> tuple[bool, int]:
            t = task_of(item)
            running = int(t.status.state) == RUNNING and not is_terminal(t)
            return (running, int(t.slot))

        return sorted(outdated, key=order)[:budget]
