"""Task status reports: checked per node, buffered from every agent, written in batches.

An agent may report only tasks assigned to its own node. Reports are merged
per task (the furthest state wins) and written every few milliseconds with
one `Store.batch`, by the WriteBatcher. A report that would move a task's
state backwards is ignored (DESIGN §3: state only moves forward), and so is
one that changes nothing but its timestamp.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from shoal.manager.dispatcher.batcher import WriteBatcher
from shoal.manager.dispatcher.errors import PermissionDenied
from shoal.manager.store import Store
from shoal.proto.shoal.v1.dispatcher_pb2 import TaskStatusUpdate
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import TaskStatus


def same_status(a: TaskStatus, b: TaskStatus) -> bool:
    """Return whether A and B say the same thing (timestamps aside)."""
    return (
        a.state == b.state
        and a.message == b.message
        and a.err == b.err
        and a.container_status == b.container_status
        and a.port_status == b.port_status
    )


class StatusWriter:
    """Validates and buffers task status reports, and writes them in batches."""

    def __init__(self, store: Store, interval: float) -> None:
        self.store = store
        self.batcher = WriteBatcher(store, Task, interval, "status")
        self.ignored = 0  # regressions and no-op reports dropped

    def start(self) -> None:
        self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()

    def check(self, node_id: str, updates: Sequence[TaskStatusUpdate]) -> None:
        """Raise PermissionDenied unless every known task in UPDATES runs on NODE_ID."""
        for u in updates:
            task = self.store.get(Task, u.task_id, copy=False)
            if task is not None and task.node_id != node_id:
                raise PermissionDenied(
                    f"task {u.task_id} is not assigned to node {node_id}: cannot update it"
                )

    def submit(
        self, node_id: str, updates: Sequence[TaskStatusUpdate]
    ) -> list[asyncio.Future[None]]:
        """Queue UPDATES (checked first); the futures resolve once they are written."""
        self.check(node_id, updates)
        futures = []
        for u in updates:
            status = TaskStatus()
            status.CopyFrom(u.status)
            futures.append(self.batcher.queue(u.task_id, self._change(node_id, status)))
        return futures

    def _change(self, node_id: str, status: TaskStatus) -> Any:
        def apply(task: Any) -> Any:
            if task is None or task.node_id != node_id:
                return None
            if status.state < task.status.state or same_status(status, task.status):
                self.ignored += 1
                return None
            task.status.CopyFrom(status)
            return task

        return apply
