"""The filter pipeline: may a task run on a node, and if it fits nowhere, why.

    pipeline.set_task(task)
    candidates = [n for n in nodes if pipeline.check(n)]   # counts failures
    ...
    pipeline.fits(n)                                       # same, not counted
    task.status.err = pipeline.explain()
    # "no suitable node (insufficient resources on 3 nodes; 1 node not available)"

Only the filters that apply to the task run (`set_task` said so). For each
node the first failing filter is blamed; the explanation lists the reasons
with the most nodes first, as Swarm does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shoal.manager.scheduler.filters import Filter, default_filters
from shoal.manager.scheduler.nodeinfo import NodeInfo

NO_SUITABLE_NODE = "no suitable node"


class Pipeline:
    """The filters, the ones that apply to the current task, and failure counts."""

    def __init__(self, filters: Sequence[Filter] | None = None) -> None:
        self.filters = list(filters) if filters is not None else default_filters()
        self._active: list[Filter] = []
        self._failed: list[int] = []

    def set_task(self, task: Any) -> None:
        """Prepare for TASK: keep the filters that apply, reset the counts."""
        self._active = [f for f in self.filters if f.set_task(task)]
        self._failed = [0] * len(self._active)

    def check(self, node: NodeInfo) -> bool:
        """Return whether the task may run on NODE, counting the failure if not."""
        for i, f in enumerate(self._active):
            if not f.check(node):
                self._failed[i] += 1
                return False
        return True

    def fits(self, node: NodeInfo) -> bool:
        """Return whether the task may run on NODE (not counted)."""
        return all(f.check(node) for f in self._active)

    def reset_counts(self) -> None:
        self._failed = [0] * len(self._active)

    def explain(self) -> str:
        """Return why the task fits none of the nodes checked since the last reset."""
        reasons = [(n, i) for i, n in enumerate(self._failed) if n]
        if not reasons:
            return NO_SUITABLE_NODE
        reasons.sort(key=lambda r: (-r[0], r[1]))
        return f"{NO_SUITABLE_NODE} ({'; '.join(self._active[i].explain(n) for n, i in reasons)})"
