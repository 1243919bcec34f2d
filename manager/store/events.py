"""Change events of the watch cache and the subscriptions that deliver them."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass

from google.protobuf.message import Message


class Action(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class Event:
    """One change of one object, as applied to the cache.

    `obj` is the new object (the last known one for DELETE), `old` the
    previous one (None for CREATE). Both are the cache's own snapshots: the
    cache never changes them in place, and neither may a subscriber (copy
    first).
    """

    action: Action
    kind: str
    obj: Message
    old: Message | None
    revision: int

    @property
    def obj_id(self) -> str:
        return str(getattr(self.obj, "id", ""))


_CLOSED = object()


class Subscription:
    """An asyncio queue of events for some kinds; iterate it, close it when done.

    Created by `WatchCache.subscribe`. Events arrive in revision order; the
    queue is unbounded, so a subscriber must keep up (or close).
    """

    def __init__(
        self,
        kinds: Collection[str],
        where: Callable[[Event], bool] | None,
        on_close: Callable[[Subscription], None],
    ) -> None:
        self.kinds = frozenset(kinds)
        self._where = where
        self._on_close = on_close
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self.closed = False

    def wants(self, event: Event) -> bool:
        return (not self.kinds or event.kind in self.kinds) and (
            self._where is None or self._where(event)
        )

    def publish(self, event: Event) -> None:
        """Queue EVENT if this subscription wants it (called by the cache)."""
        if not self.closed and self.wants(event):
            self._queue.put_nowait(event)

    def pending(self) -> int:
        """Return how many events are queued and not yet read."""
        return self._queue.qsize()

    async def get(self, timeout: float | None = None) -> Event | None:
        """Return the next event; None once closed (or when TIMEOUT passes)."""
        if self.closed and self._queue.empty():
            return None
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        return item if isinstance(item, Event) else None

    def get_nowait(self) -> Event | None:
        """Return the next queued event, or None if there is none."""
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        return item if isinstance(item, Event) else None

    def close(self) -> None:
        """Stop delivering events; a pending `get` returns None."""
        if not self.closed:
            self.closed = True
            self._on_close(self)
            self._queue.put_nowait(_CLOSED)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.get()
            if event is None:
                return
            yield event

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
