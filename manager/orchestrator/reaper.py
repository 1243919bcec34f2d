"""The task reaper: deletes tasks nobody needs any more, in batches.

- A task with desired state REMOVE (its service was deleted) is deleted once
  it stopped (observed state terminal) or if it never reached an agent.
- Each slot (replicated: service and slot number; global: service and node)
  keeps at most ClusterSpec.orchestration.task_history_retention_limit dead
  tasks (desired SHUTDOWN or REMOVE; default 5, negative: keep all); older
  ones are deleted, oldest first, once they stopped. The task occupying the
  slot is never history.
- A service marked pending_delete is deleted once it has no task left.

Deletes compare the task's version, so a task that changed meanwhile is
looked at again rather than deleted on stale grounds.
"""

from __future__ import annotations

import logging
from typing import Any

from shoal.manager.orchestrator.loop import LoopConfig, Reconciler
from shoal.manager.orchestrator.tasks import (
    COMPLETE,
    REMOVE,
    is_terminal,
    never_assigned,
    slot_key,
)
from shoal.manager.store import Action, Delete, Event, Op, Store
from shoal.proto.shoal.v1.objects_pb2 import Cluster, Service, Task

log = logging.getLogger(__name__)

DEFAULT_RETENTION = 5


def retention_limit(cluster: Any) -> int:
    """Return how many dead tasks a slot keeps (negative: all)."""
    if cluster is None or not cluster.spec.HasField("orchestration"):
        return DEFAULT_RETENTION
    return int(cluster.spec.orchestration.task_history_retention_limit)


def _reapable(task: Any) -> bool:
    return is_terminal(task) or never_assigned(task)


def _created(task: Any) -> tuple[int, int]:
    return (task.meta.created_at.seconds, task.meta.created_at.nanos)


class TaskReaper(Reconciler):
    """Deletes removed tasks and old task history; leader only."""

    kinds = (Task, Service, Cluster)
    name = "task-reaper"

    def __init__(self, store: Store, config: LoopConfig | None = None) -> None:
        # history can wait: gather more deletions per tick than the other loops
        super().__init__(store, config or LoopConfig(debounce=0.05))
        self._slots: set[str] = set()  # slot keys to look at
        self._services: set[str] = set()  # pending_delete services to look at
        self.deleted = 0

    def resync(self) -> None:
        cache = self.store.cache
        for t in cache.list(Task, copy=False):
            if t.service_id:
                self._slots.add(slot_key(t))
        for svc in cache.list(Service, copy=False):
            if svc.pending_delete:
                self._services.add(svc.id)

    def wants(self, event: Event) -> bool:
        obj: Any = event.obj
        if event.kind != "tasks":
            return True
        if not obj.service_id:
            return False
        if event.action == Action.DELETE:
            svc = self.store.cache.get(Service, obj.service_id, copy=False)
            return svc is not None and bool(svc.pending_delete)
        if int(obj.desired_state) <= COMPLETE:
            return False
        old: Any = event.old
        # a task that just left its slot (history grew) or may now be deleted
        return (
            old is None
            or int(old.desired_state) != int(obj.desired_state)
            or (_reapable(obj) and not _reapable(old))
        )

    def handle(self, event: Event) -> None:
        obj: Any = event.obj
        if event.kind == "tasks":
            if not obj.service_id:
                return
            if event.action == Action.DELETE:
                self._services.add(obj.service_id)
            else:
                self._slots.add(slot_key(obj))
        elif event.kind == "services":
            if event.action != Action.DELETE and obj.pending_delete:
                self._services.add(obj.id)
        elif event.kind == "clusters":
            self.resync()

    def has_work(self) -> bool:
        return bool(self._slots or self._services)

    async def tick(self) -> None:
        slots, self._slots = self._slots, set()
        services, self._services = self._services, set()
        cache = self.store.cache
        clusters = cache.list(Cluster, copy=False)
        limit = retention_limit(clusters[0] if clusters else None)
        ops: list[Op] = []
        for key in slots:
            ops.extend(self._slot(cache.by_index(Task, "slot", key, copy=False), limit))
        going = {op.obj_id for op in ops if isinstance(op, Delete)}
        for sid in services:
            svc = cache.get(Service, sid, copy=False)
            if (
                svc is not None
                and svc.pending_delete
                and all(t.id in going for t in cache.tasks_by_service(sid, copy=False))
            ):
                ops.append(Delete(Service, sid, int(svc.meta.version.index)))
        result = await self.write(ops)
        self.deleted += result.written
        for i, err in result.errors.items():
            op: Any = ops[i]
            log.debug("%s: %s not deleted: %s", self.name, op.obj_id, err)
            task = cache.get(Task, op.obj_id, copy=False)
            if task is not None and task.service_id:
                self._slots.add(slot_key(task))

    @staticmethod
    def _slot(tasks: list[Any], limit: int) -> list[Op]:
        ops: list[Op] = []
        history = []
        for t in tasks:
            if int(t.desired_state) == REMOVE and _reapable(t):
                ops.append(Delete(Task, t.id, int(t.meta.version.index)))
            elif int(t.desired_state) > COMPLETE:
                history.append(t)
        if limit >= 0 and len(history) > limit:
            history.sort(key=_created)
            for t in history[: len(history) - limit]:
                if _reapable(t):
                    ops.append(Delete(Task, t.id, int(t.meta.version.index)))
        return ops
