"""Heartbeat deadlines, kept in memory: no store write per heartbeat.

Each node with a session here has a deadline (last heartbeat + its TTL,
`node_ttl`). The dispatcher asks `expired()` a few times per second; the
nodes that come out of it are *released* by this manager, and the leader's
judge (liveness_judge.py) writes them DOWN unless another manager holds them.
A dict of deadlines scanned four times a second costs microseconds per
thousand nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def node_ttl(period: float, grace_multiplier: float, min_grace: float) -> float:
    """Return how long a node stays alive after a heartbeat, for heartbeats every PERIOD.

    period x GRACE_MULTIPLIER, but at least PERIOD + MIN_GRACE: a heartbeat may
    be late by half a period (defaults), and never by less than a second, so
    that a busy host is not declared dead for one slow round trip.
    """
    return max(period * grace_multiplier, period + min_grace)


# what an agent allows a heartbeat at least, and how long it takes past that to
# open a session with another manager (agent/agent.py: MIN_HEARTBEAT_TIMEOUT, backoff,
# a connection to a live manager)
AGENT_MIN_HEARTBEAT_TIMEOUT = 1.5
AGENT_RECONNECT = 1.0


def reconnect_window(period: float) -> float:
    """Return how long a live agent may take to show up at another manager.

    Its manager died: the agent notices when a heartbeat (sent at most PERIOD
    later) goes unanswered for max(1.5 s, PERIOD), then connects elsewhere.
    The leader waits this long before it marks DOWN a node no manager holds
    and none released (liveness_judge.py). Twice the nominal time: a
    loaded host's agent (or the new leader itself, just elected) can be late
    by seconds, and marking a live node DOWN moves all its tasks (SwarmKit
    likewise gives nodes of unknown state a multiple of the usual grace).
    Only nodes whose manager died wait this long; a node whose own
    heartbeats stopped is released by the manager that held it.
    """
    return UNKNOWN_GRACE_MULTIPLIER * (
        period + max(AGENT_MIN_HEARTBEAT_TIMEOUT, period) + AGENT_RECONNECT)


UNKNOWN_GRACE_MULTIPLIER = 2.0


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

    def nodes(self) -> set[str]:
        """Return the nodes tracked here (alive, or expired but not yet collected)."""
        return set(self._deadlines)

    def expired(self) -> list[str]:
        """Return (and forget) the nodes whose deadline has passed."""
        now = self._now()
        gone = [n for n, d in self._deadlines.items() if d < now]
        for n in gone:
            del self._deadlines[n]
        return gone

    def __len__(self) -> int:
        return len(self._deadlines)
