"""One client's log subscription: which nodes serve it, and the fan-in of their logs.

The broker (broker.py) creates it, sends it to the nodes' agents and feeds
what they publish into it; the client iterates it. Without follow it ends
once every node involved has closed it (sent all it has) or failed (known
down, or silent for `node_timeout` seconds); the nodes that failed are then
in `errors`, which the client reports as Docker does ("warning: incomplete
log stream..."). With follow it runs until the client leaves; nodes join it
as the service's tasks land on them.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from shoal.proto.shoal.v1.logbroker_pb2 import (
    LogMessage,
    LogSelector,
    LogSubscriptionOptions,
    SubscriptionMessage,
)

# Resent after a reconnect, a subscription asks for the lines after the last
# one a node published; the engine compares times as floats (~0.2 µs at today's
# epoch), so step past it by a whole microsecond.
_RESUME_STEP_NS = 1000


class NodeState(enum.Enum):
    PENDING = "pending"  # not sent yet: the node listens on no stream here
    SENT = "sent"  # the node has it and has not closed it
    CLOSED = "closed"  # the node sent all it has (without follow)
    FAILED = "failed"  # given up on: down or silent too long


@dataclass
class NodeProgress:
    state: NodeState
    deadline: float  # loop time after which a PENDING or SENT node fails (without follow)
    last_ns: int = 0  # timestamp of the last line this node published


def unavailable(node_id: str) -> str:
    """Return SwarmKit's reason for a node whose logs could not be read."""
    return f"node {node_id} is not available"


class Subscription:
    """The state of one client's subscription; iterate it for the LogMessages."""

    def __init__(
        self,
        sub_id: str,
        selector: LogSelector,
        options: LogSubscriptionOptions,
        *,
        node_timeout: float,
        max_pending: int,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.id = sub_id
        self.selector = selector
        self.options = options
        self.follow = options.follow
        self.node_timeout = node_timeout
        self.max_pending = max_pending
        self.clock = clock or asyncio.get_running_loop().time
        self.nodes: dict[str, NodeProgress] = {}
        self.closed = False  # the client left: publishers stop at once
        self._queue: asyncio.Queue[list[LogMessage] | None] = asyncio.Queue()
        self._batches = 0  # batches in the queue (it also holds wake-ups)
        self._drained = asyncio.Event()

    # What the broker calls.

    def add_node(self, node_id: str, *, available: bool = True) -> bool:
        """Involve NODE_ID; False if it already was. An unavailable node fails at once."""
        if node_id in self.nodes:
            return False
        state = NodeState.PENDING if available or self.follow else NodeState.FAILED
        self.nodes[node_id] = NodeProgress(state, self.clock() + self.node_timeout)
        self._wake()
        return True

    def message_for(self, node_id: str) -> SubscriptionMessage:
        """Return what to send NODE_ID: after a reconnect, only what it has not published."""
        msg = SubscriptionMessage(id=self.id, selector=self.selector, options=self.options)
        progress = self.nodes.get(node_id)
        if progress is not None and progress.last_ns:
            msg.options.since.FromNanoseconds(progress.last_ns + _RESUME_STEP_NS)
            msg.options.tail = -1
        return msg

    def wants(self, node_id: str) -> bool:
        """Return whether NODE_ID should be sent this subscription (again) when it listens."""
        p = self.nodes.get(node_id)
        return not self.closed and p is not None and p.state in (NodeState.PENDING, NodeState.SENT)

    def sent(self, node_id: str) -> None:
        p = self.nodes[node_id]
        p.state = NodeState.SENT
        p.deadline = self.clock() + self.node_timeout

    async def publish(self, node_id: str, messages: Sequence[LogMessage], close: bool) -> None:
        """Queue MESSAGES of NODE_ID for the client (waits while it lags); CLOSE ends the node."""
        p = self.nodes[node_id]
        p.deadline = self.clock() + self.node_timeout
        if p.state in (NodeState.PENDING, NodeState.FAILED):
            p.state = NodeState.SENT  # a node given up on that speaks after all is waited for
        if messages:
            while self._batches >= self.max_pending and not self.closed:
                self._drained.clear()
                await self._drained.wait()
            if self.closed:
                return
            last = messages[-1].timestamp
            p.last_ns = max(p.last_ns, last.seconds * 1_000_000_000 + last.nanos)
            self._queue.put_nowait(list(messages))
            self._batches += 1
        if close and not self.follow:
            p.state = NodeState.CLOSED
            self._wake()

    def expire(self) -> list[str]:
        """Fail the nodes past their deadline (without follow); return their ids."""
        if self.follow:
            return []
        now = self.clock()
        failed = []
        for node_id, p in self.nodes.items():
            if p.state in (NodeState.PENDING, NodeState.SENT) and p.deadline <= now:
                p.state = NodeState.FAILED
                failed.append(node_id)
        if failed:
            self._wake()
        return failed

    def close(self) -> None:
        """The client left: release waiting publishers and end the iteration."""
        self.closed = True
        self._drained.set()
        self._wake()

    # What the client sees.

    @property
    def finished(self) -> bool:
        """Return whether no more logs will come (every node closed or failed, no follow)."""
        if self.closed:
            return True
        if self.follow:
            return False
        return all(p.state in (NodeState.CLOSED, NodeState.FAILED) for p in self.nodes.values())

    @property
    def errors(self) -> list[str]:
        """Return why some nodes' logs are missing ("node X is not available")."""
        return [unavailable(n) for n, p in sorted(self.nodes.items())
                if p.state is NodeState.FAILED]

    def warning(self) -> str:
        """Return Docker's incomplete-stream warning, or "" when every node answered."""
        errors = self.errors
        if not errors:
            return ""
        return ("warning: incomplete log stream. some logs could not be retrieved for the "
                "following reasons: " + ", ".join(errors))

    def __aiter__(self) -> AsyncIterator[LogMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[LogMessage]:
        while True:
            if self._queue.empty() and self.finished:
                return
            try:
                batch = await asyncio.wait_for(self._queue.get(), self._time_left())
            except TimeoutError:
                self.expire()
                continue
            if batch is None:
                continue  # a wake-up: check whether it is over
            self._batches -= 1
            self._drained.set()
            for msg in batch:
                yield msg

    # Internals.

    def _time_left(self) -> float | None:
        if self.follow:
            return None
        waiting = [p.deadline for p in self.nodes.values()
                   if p.state in (NodeState.PENDING, NodeState.SENT)]
        if not waiting:
            return None
        return max(0.0, min(waiting) - self.clock())

    def _wake(self) -> None:
        self._queue.put_nowait(None)
