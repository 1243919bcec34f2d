"""The shape of every leader loop: subscribe, reconcile everything, then react in ticks.

A component subclasses `Reconciler` and provides:

- `resync()`: mark everything as needing work (run at start, after the
  subscription is open, so that no change falls between the two);
- `wants(event)`: whether an event can matter at all; it runs inside the
  cache's update for every change of the subscribed kinds, so it must be a
  cheap test (most task updates are agents' progress reports that concern
  no loop but the dispatcher's);
- `handle(event)`: note what a wanted event makes dirty (synchronous, cheap);
- `has_work()` and `tick()`: do the dirty work, reading the watch cache and
  writing with `write()` (one `Store.batch`, then wait until the cache shows
  it, so that the next tick never acts twice on the same state). A big write
is split into chunks written concurrently: etcd commits concurrent
transactions together, and on a busy event loop one round of latency costs
far less than one per transaction.

Events are coalesced: after the first one the loop sleeps `debounce` seconds
and then drains the whole queue, so a burst of ten thousand task updates
costs one tick, not ten thousand. Timers (restart delays) call `wake()`.
A `StoreUnavailable` from a tick backs off (0.1 s doubling to 2 s) and
resyncs, since the failed write may or may not have been applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from google.protobuf.message import Message

from shoal.manager.store import (
    BatchResult,
    Event,
    Op,
    Store,
    StoreUnavailable,
    Subscription,
    VersionConflict,
)

log = logging.getLogger(__name__)


@dataclass
class LoopConfig:
    """Timing and write shape of a leader loop."""

    # how long to gather events after the first one before a tick
    debounce: float = 0.005
    # operations per Store.batch call, and how many such calls run at once
    chunk: int = 512
    parallel: int = 4


class Reconciler:
    """Base of the leader-only loops; `run()` until cancelled, or `start()`/`stop()`."""

    kinds: ClassVar[tuple[type[Message], ...]] = ()
    name: ClassVar[str] = "reconciler"

    def __init__(self, store: Store, config: LoopConfig | None = None) -> None:
        self.store = store
        self.config = config or LoopConfig()
        self.ticks = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._backoff = 0.1

    # Hooks.

    def resync(self) -> None:
        raise NotImplementedError

    def wants(self, event: Event) -> bool:
        return True

    def handle(self, event: Event) -> None:
        raise NotImplementedError

    def has_work(self) -> bool:
        raise NotImplementedError

    async def tick(self) -> None:
        raise NotImplementedError

    def closed(self) -> None:
        """Release what the loop holds (timers); called when `run()` ends."""

    # Running.

    def wake(self) -> None:
        """Ask for a tick even without events (a timer fired)."""
        self._wake.set()

    async def start(self) -> None:
        """Run the loop in a task of its own."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Reconcile everything, then every change, until cancelled."""
        sub = self.store.subscribe(*self.kinds, where=self.wants)
        try:
            self.resync()
            while True:
                if not self.has_work() and not await self._wait(sub):
                    return
                await asyncio.sleep(self.config.debounce)
                self._wake.clear()
                self._drain(sub)
                if not self.has_work():
                    continue
                try:
                    await self.tick()
                    self.ticks += 1
                    self._backoff = 0.1
                except StoreUnavailable as exc:
                    log.warning("%s: %s; retrying in %.1fs", self.name, exc, self._backoff)
                    await self._recover(sub)
                except Exception:  # a bug must not stop the loop for the whole term
                    log.exception("%s: tick failed; retrying in %.1fs", self.name, self._backoff)
                    await self._recover(sub)
        finally:
            sub.close()
            self.closed()

    async def _recover(self, sub: Subscription) -> None:
        await asyncio.sleep(self._backoff)
        self._backoff = min(self._backoff * 2, 2.0)
        self._drain(sub)
        self.resync()

    async def _wait(self, sub: Subscription) -> bool:
        """Wait for an event (handled) or a wake-up; False once the subscription closed."""
        if self._wake.is_set():
            return True
        get = asyncio.ensure_future(sub.get())
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({get, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (get, woken):
                if not fut.done():
                    fut.cancel()
        if get.done() and not get.cancelled():
            event = get.result()
            if event is None:
                return False
            self.handle(event)
        return True

    def _drain(self, sub: Subscription) -> None:
        while (event := sub.get_nowait()) is not None:
            self.handle(event)

    async def write(self, ops: Sequence[Op]) -> BatchResult:
        """Apply OPS in one `Store.batch` and wait until the cache shows them.

        Failed operations are in the result's errors; the cache is brought up
        to the versions that made them fail, so the next tick sees why.
        """
        if not ops:
            return BatchResult()
        size = self.config.chunk
        if len(ops) <= size:
            result = await self.store.batch(ops)
        else:
            result = await self._write_chunks(ops, size)
        revision = result.revision
        for err in result.errors.values():
            if isinstance(err, VersionConflict):
                revision = max(revision, err.actual)
        if result.errors:
            log.debug("%s: %d of %d writes failed", self.name, len(result.errors), len(ops))
        if revision:
            await self.store.wait_for(revision)
        return result

    async def _write_chunks(self, ops: Sequence[Op], size: int) -> BatchResult:
        gate = asyncio.Semaphore(self.config.parallel)

        async def one(start: int) -> tuple[int, BatchResult]:
            async with gate:
                return start, await self.store.batch(ops[start : start + size])

        total = BatchResult()
        for start, part in await asyncio.gather(*(one(i) for i in range(0, len(ops), size))):
            total.revision = max(total.revision, part.revision)
            total.written += part.written
            total.transactions += part.transactions
            total.errors.update({start + i: err for i, err in part.errors.items()})
        return total
