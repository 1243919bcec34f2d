"""A Plan gathers one tick's writes: task edits (one copy per task), creations, deletions.

Edits go to a single copy of each task, so that two decisions about the same
task in one tick (say, orphaned and then scaled down) make one update. Each
write can carry a callback run only if it succeeded (the restart supervisor
records a restart only once it is in etcd).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shoal.manager.orchestrator.tasks import (
    COMPLETE,
    ORPHANED,
    REMOVE,
    RUNNING,
    SHUTDOWN,
    networks_by_ref,
    now_timestamp,
)
from shoal.manager.store import (
    BatchResult,
    Create,
    Delete,
    NotFound,
    Op,
    Update,
    VersionConflict,
)
from shoal.proto.shoal.v1.objects_pb2 import Cluster, Network, Node, Task

log = logging.getLogger(__name__)

Callback = Callable[[], None]


class Context:
    """What an orchestrator tick reads besides the service: cluster, networks, nodes, time."""

    def __init__(self, cache: Any, now: float) -> None:
        self.cache = cache
        self.now = now
        clusters = cache.list(Cluster, copy=False)
        self.cluster = clusters[0] if clusters else None
        self._networks: dict[str, Any] | None = None

    def networks(self, service: Any) -> dict[str, Any] | None:
        """Return the networks by id and name if SERVICE attaches to any."""
        if not (service.spec.task.networks or service.spec.networks):
            return None
        if self._networks is None:
            self._networks = networks_by_ref(self.cache.list(Network, copy=False))
        return self._networks

    def node(self, node_id: str) -> Any:
        return self.cache.get(Node, node_id, copy=False) if node_id else None


class Plan:
    """The writes of one tick, in order."""

    def __init__(self) -> None:
        self._edits: dict[str, Task] = {}
        self._creates: dict[int, Task] = {}  # by id() of the new task
        self._deletes: list[Delete] = []
        self._callbacks: dict[int, list[Callback]] = {}
        self.services: set[str] = set()  # services touched, to recheck after failures

    def __len__(self) -> int:
        return len(self._edits) + len(self._creates) + len(self._deletes)

    def edit(self, task: Any) -> Task:
        """Return this plan's copy of TASK (made on first use) to change."""
        copy = self._edits.get(task.id)
        if copy is None:
            copy = Task()
            copy.CopyFrom(task)
            self._edits[task.id] = copy
            self.services.add(task.service_id)
        return copy

    def edited(self, task_id: str) -> Task | None:
        return self._edits.get(task_id)

    def create(self, task: Task, on_success: Callback | None = None) -> Task:
        self._creates[id(task)] = task
        self.services.add(task.service_id)
        if on_success is not None:
            self._callbacks.setdefault(id(task), []).append(on_success)
        return task

    def discard(self, task: Task) -> None:
        """Drop a creation planned earlier in this tick."""
        self._creates.pop(id(task), None)
        self._callbacks.pop(id(task), None)

    def delete(self, task: Any) -> None:
        self._deletes.append(Delete(Task, task.id, int(task.meta.version.index)))
        self.services.add(task.service_id)

    # Desired-state changes, which only move forward.

    def shutdown(self, task: Any) -> None:
        self._raise_desired(task, SHUTDOWN)

    def remove(self, task: Any) -> None:
        self._raise_desired(task, REMOVE)

    def finish(self, task: Any) -> None:
        """Keep TASK in its slot as done: its restart policy says not to restart it."""
        self._raise_desired(task, COMPLETE)

    def orphan(self, task: Any, why: str) -> None:
        """Mark TASK's observed state ORPHANED: its node is gone and cannot report."""
        if int(self._edits.get(task.id, task).status.state) <= RUNNING:
            t = self.edit(task)
            t.status.state = ORPHANED
            t.status.message = why
            t.status.err = ""
            now_timestamp(t)

    def _raise_desired(self, task: Any, state: int) -> None:
        current = self._edits.get(task.id, task)
        if int(current.desired_state) < state:
            self.edit(task).desired_state = state  # type: ignore[assignment]

    # Writing.

    def ops(self) -> list[Op]:
        """Return the operations: edits first (old tasks leave before new ones come)."""
        out: list[Op] = [Update(t) for t in self._edits.values()]
        out.extend(Create(t) for t in self._creates.values())
        out.extend(self._deletes)
        return out

    def done(self, ops: list[Op], result: BatchResult) -> set[str]:
        """Run the callbacks of the operations that succeeded; return services to redo.

        A write that lost a race (the task changed or went meanwhile) is
        redone from the newer state; anything else is logged.
        """
        for i, op in enumerate(ops):
            if i in result.errors or not isinstance(op, Create):
                continue
            for cb in self._callbacks.get(id(op.obj), ()):
                cb()
        redo: set[str] = set()
        for i, err in result.errors.items():
            obj: Any = getattr(ops[i], "obj", None)
            if isinstance(err, (VersionConflict, NotFound)) and obj is not None:
                redo.add(obj.service_id)
            else:
                log.error("orchestrator write failed: %s", err)
        return redo
