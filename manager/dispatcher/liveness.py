"""Heartbeat deadlines, kept in memory: no store write per heartbeat.

Each node with a session here has a deadline (last heartbeat + period x
grace). The dispatcher asks `expired(now)` a few times per second and writes
only the transitions (READY -> DOWN) that result, in batches. A dict of
deadlines scanned twice a second costs microseconds per thousand nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Liveness:
    """Deadlines by node id; monotonic clock."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._deadlines: dict[str, float] = {}
        self._now = clock or time.monotonic

    def now(self) -> float:
        return self._now()

    def beat(self, node_id: str, ttl: float) -> None:
        """Record a sign of life from NODE_ID: it is alive for TTL more seconds."""
        self._deadlines[node_id] = self._now() + ttl

    def forget(self, node_id: str) -> None:
        self._deadlines.pop(node_id, None)

    def alive(self, node_id: str) -> bool:
        deadline = self._deadlines.get(node_id)
        return deadline is not None and deadline >= self._now()

    def expired(self) -> list[str]:
        """Return (and forget) the nodes whose deadline has passed."""
        now = self._now()
        gone = [n for n, d in self._deadlines.items() if d < now]
        for n in gone:
            del self._deadlines[n]
        return gone

    def __len__(self) -> int:
        return len(self._deadlines)
