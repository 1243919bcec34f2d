"""Task status reports, gathered and sent in batches (UpdateTaskStatus).

Runners report every state change here; only the latest status of each task
is kept until it is sent, so a task that races through several states in one
interval costs one entry. A report that fails stays queued (unless a newer one
replaced it) and goes out on the next session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from shoal.proto.shoal.v1.dispatcher_pb2 import TaskStatusUpdate
from shoal.proto.shoal.v1.types_pb2 import TaskStatus

Send = Callable[[list[TaskStatusUpdate]], Awaitable[None]]


class StatusReporter:
    """Latest unsent status per task; `run(send)` sends them while a session lasts."""

    def __init__(self, interval: float, max_per_request: int) -> None:
        self.interval = interval
        self.max_per_request = max_per_request
        self._pending: dict[str, TaskStatus] = {}
        self._wake = asyncio.Event()
        self.sent = 0

    def report(self, task_id: str, status: TaskStatus) -> None:
        self._pending[task_id] = status
        self._wake.set()

    def pending(self) -> int:
        return len(self._pending)

    async def run(self, send: Send) -> None:
        """Send queued reports in batches until SEND fails (the error propagates)."""
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(self.interval)
            batch = dict(list(self._pending.items())[: self.max_per_request])
            for task_id in batch:
                del self._pending[task_id]
            try:
                await send([TaskStatusUpdate(task_id=t, status=s) for t, s in batch.items()])
            except BaseException:
                for task_id, status in batch.items():
                    self._pending.setdefault(task_id, status)  # keep newer ones
                raise
            self.sent += len(batch)
