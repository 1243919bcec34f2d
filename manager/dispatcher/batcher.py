"""A write-behind buffer: changes queued by many callers, written in one store batch.

Both the node writer (registrations, DOWN/READY transitions) and the task
status writer queue per-object changes here. Every `interval` the queued
changes are applied to fresh copies from the cache and written with one
`Store.batch` (as many etcd transactions as the limits require). A change
that loses a race (VersionConflict) is applied again, to the newer object,
in the next round; callers await the round that finally wrote (or skipped)
their change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from shoal.manager.store import Create, NotFound, Store, StoreError, Update, VersionConflict

log = logging.getLogger(__name__)

# A change receives a fresh copy of the object (None when absent), edits it in
# place or builds a new one, and returns what to write; it returns None only
# when it changed nothing.
Change = Callable[[Any], Message | None]

_MAX_ATTEMPTS = 10


class _Pending:
    __slots__ = ("attempts", "changes", "waiters")

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.waiters: list[asyncio.Future[None]] = []
        self.attempts = 0


class WriteBatcher:
    """Buffers changes to objects of one kind and writes them in batches."""

    def __init__(self, store: Store, kind: type[Message], interval: float, name: str) -> None:
        self.store = store
        self.kind = kind
        self.interval = interval
        self.name = name
        self._pending: dict[str, _Pending] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # counters (tests and the benchmark read them)
        self.rounds = 0
        self.written = 0
        self.conflicts = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"dispatcher-{self.name}-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for p in self._pending.values():
            for w in p.waiters:
                if not w.done():
                    w.set_exception(StoreError("dispatcher stopped before writing"))
        self._pending.clear()

    def queue(self, obj_id: str, change: Change) -> asyncio.Future[None]:
        """Queue CHANGE for the object OBJ_ID; the future resolves once written."""
        p = self._pending.get(obj_id)
        if p is None:
            p = self._pending[obj_id] = _Pending()
        p.changes.append(change)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        p.waiters.append(fut)
        self._wake.set()
        return fut

    def queue_nowait(self, obj_id: str, change: Change) -> None:
        """Queue CHANGE without anyone waiting for it."""
        fut = self.queue(obj_id, change)
        fut.add_done_callback(_consume)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.interval)
            self._wake.clear()
            batch, self._pending = self._pending, {}
            try:
                await self._flush(batch)
            except Exception as exc:  # keep the writer alive; the callers see the error
                log.exception("dispatcher %s writer failed", self.name)
                for p in batch.values():
                    _fail(p.waiters, exc)

    async def _flush(self, batch: dict[str, _Pending]) -> None:
        ops: list[Any] = []
        owners: list[tuple[str, _Pending]] = []
        for obj_id, p in batch.items():
            current = self.store.get(self.kind, obj_id)
            obj: Message | None = current
            changed = False
            for change in p.changes:
                out = change(obj)
                if out is not None:
                    obj, changed = out, True
            if obj is None or not changed:
                _done(p.waiters)  # nothing to write
                continue
            ops.append(Create(obj) if current is None else Update(obj))
            owners.append((obj_id, p))
        if not ops:
            return
        self.rounds += 1
        result = await self.store.batch(ops)
        self.written += result.written
        retry_at = 0
        for i, (obj_id, p) in enumerate(owners):
            err = result.errors.get(i)
            if err is None:
                _done(p.waiters)
            elif isinstance(err, VersionConflict) and p.attempts < _MAX_ATTEMPTS:
                p.attempts += 1
                self.conflicts += 1
                retry_at = max(retry_at, err.actual)
                self._requeue(obj_id, p)
            elif isinstance(err, NotFound):
                _done(p.waiters)  # deleted meanwhile: nothing left to change
            else:
                _fail(p.waiters, err)
        if retry_at:
            with contextlib.suppress(StoreError):
                await self.store.wait_for(retry_at)

    def _requeue(self, obj_id: str, p: _Pending) -> None:
        later = self._pending.get(obj_id)
        if later is not None:  # changes queued meanwhile apply after the retried ones
            p.changes.extend(later.changes)
            p.waiters.extend(later.waiters)
        self._pending[obj_id] = p
        self._wake.set()


def _done(waiters: list[asyncio.Future[None]]) -> None:
    for w in waiters:
        if not w.done():
            w.set_result(None)


def _fail(waiters: list[asyncio.Future[None]], exc: BaseException) -> None:
    for w in waiters:
        if not w.done():
            w.set_exception(exc)


def _consume(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("dispatcher write failed: %s", fut.exception())
