"""Assignment streams: each node's tasks, a COMPLETE set then INCREMENTAL changes.

One store subscription feeds every stream: the router looks up the streams of
the task's node in a dict, so the cost of a change does not grow with the
number of connected nodes (no per-node subscription, no per-node polling).
Each stream keeps its pending changes keyed by task id, so a burst of
changes to the same task is sent once, and many tasks go in one message.

The same streams carry each node's NetworkStates (netstates.py pushes
them, keyed "network:<id>" so they never collide with task ids).

A task is sent once the scheduler has assigned it (status >= ASSIGNED, as in
SwarmKit: below that it may not fit the node); changes that touch only its
status (the agent's own reports) are not echoed back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from shoal.manager.dispatcher.errors import DispatcherError
from shoal.manager.store import Action, Event, Store, Subscription
from shoal.proto.shoal.v1.dispatcher_pb2 import (
    AssignmentChange,
    AssignmentsMessage,
    NetworkState,
)
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import TaskState

log = logging.getLogger(__name__)

UPDATE = AssignmentChange.UPDATE
REMOVE = AssignmentChange.REMOVE


def visible(task: Any) -> bool:
    """Return whether TASK belongs in its node's assignments."""
    return bool(task.node_id) and task.status.state >= TaskState.ASSIGNED


def same_for_agent(a: Any, b: Any) -> bool:
    """Return whether A and B differ at most in what the agent itself reports (status)."""
    return (
        a.desired_state == b.desired_state
        and a.node_id == b.node_id
        and a.spec_version == b.spec_version
        and a.slot == b.slot
        and a.spec == b.spec
        and a.networks == b.networks
        and a.endpoint == b.endpoint
        and a.annotations == b.annotations
        and a.service_annotations == b.service_annotations
        and a.log_driver == b.log_driver
    )


def _nothing() -> None:
    pass


class AssignmentStream:
    """The changes still to send to one Assignments call of one node."""

    def __init__(
        self, node_id: str, revision: int, batch_interval: float, max_changes: int
    ) -> None:
        self.node_id = node_id
        # events at or below this revision are already in the COMPLETE set
        self.revision = revision
        self.batch_interval = batch_interval
        self.max_changes = max_changes
        self.sequence = 0
        self._pending: dict[str, tuple[int, Any]] = {}
        self._wake = asyncio.Event()
        self._error: BaseException | None = None
        self.closed = False
        self.on_message: Callable[[], None] = _nothing

    def push(self, action: int, task: Any) -> None:
        self._pending[task.id] = (action, task)
        self._wake.set()

    def push_network(self, action: int, state: NetworkState) -> None:
        """Queue STATE (UPDATE: the whole new state; REMOVE: the node leaves it)."""
        self._pending["network:" + state.network_id] = (action, state)
        self._wake.set()

    def close(self, error: BaseException | None = None) -> None:
        """End the stream; with ERROR, the stream raises it after what is pending."""
        self.closed = True
        self._error = error
        self._wake.set()

    def _message(self, kind: int, items: list[tuple[int, Any]]) -> AssignmentsMessage:
        self.sequence += 1
        self.on_message()
        msg = AssignmentsMessage(type=kind, sequence=self.sequence)  # type: ignore[arg-type]
        for action, item in items:
            change = msg.changes.add()
            change.action = action  # type: ignore[assignment]  # an Action value
            if isinstance(item, NetworkState):
                change.assignment.network.CopyFrom(item)
            else:
                change.assignment.task.CopyFrom(item)
        return msg

    async def messages(
        self, complete: list[Any], networks: list[NetworkState] | None = None
    ) -> AsyncIterator[AssignmentsMessage]:
        """Yield the COMPLETE message (tasks, then NETWORKS), then INCREMENTAL ones until closed."""
        items: list[tuple[int, Any]] = [(UPDATE, t) for t in complete]
        items += [(UPDATE, n) for n in networks or ()]
        yield self._message(AssignmentsMessage.COMPLETE, items)
        while True:
            await self._wake.wait()
            if not self.closed and self.batch_interval > 0:
                await asyncio.sleep(self.batch_interval)  # let the burst finish
            self._wake.clear()
            items = list(self._pending.values())
            self._pending.clear()
            for i in range(0, len(items), self.max_changes):
                yield self._message(
                    AssignmentsMessage.INCREMENTAL, items[i : i + self.max_changes]
                )
            if self.closed:
                if self._error is not None:
                    raise self._error
                return


class AssignmentRouter:
    """Routes task changes from one store subscription to the nodes' streams."""

    def __init__(self, store: Store, batch_interval: float, max_changes: int) -> None:
        self.store = store
        self.batch_interval = batch_interval
        self.max_changes = max_changes
        self._streams: dict[str, set[AssignmentStream]] = {}
        self.messages_sent = 0
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sub = self.store.subscribe(Task)
        self._task = asyncio.create_task(self._run(), name="dispatcher-assignments")

    async def stop(self) -> None:
        if self._sub is not None:
            self._sub.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for streams in list(self._streams.values()):
            for s in list(streams):
                s.close(DispatcherError("dispatcher stopped"))
        self._streams.clear()

    def open(self, node_id: str) -> tuple[AssignmentStream, list[Any]]:
        """Register a stream for NODE_ID; return it with the node's current tasks.

        The snapshot and the registration happen in one step (no await), and
        the stream ignores events already reflected in the snapshot.
        """
        cache = self.store.cache
        complete = [t for t in cache.tasks_by_node(node_id, copy=False) if visible(t)]
        stream = AssignmentStream(node_id, cache.revision, self.batch_interval, self.max_changes)
        stream.on_message = self._count
        self._streams.setdefault(node_id, set()).add(stream)
        return stream, complete

    def _count(self) -> None:
        self.messages_sent += 1

    def close(self, stream: AssignmentStream) -> None:
        streams = self._streams.get(stream.node_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._streams[stream.node_id]

    def close_node(self, node_id: str, error: BaseException | None = None) -> None:
        """End every stream of NODE_ID (its session ended)."""
        for s in list(self._streams.pop(node_id, ())):
            s.close(error)

    def streams_of(self, node_id: str) -> int:
        return len(self._streams.get(node_id, ()))

    def push_network(self, node_id: str, action: int, state: NetworkState) -> None:
        """Queue a NetworkState change for every open stream of NODE_ID."""
        for s in self._streams.get(node_id, ()):
            s.push_network(action, state)

    async def _run(self) -> None:
        assert self._sub is not None
        sub = self._sub
        while True:
            event = await sub.get()
            if event is None:
                return
            while event is not None:
                try:
                    self.route(event)
                except Exception:  # one bad event must not stop every node's stream
                    log.exception("routing task event %s failed", event.obj_id)
                event = sub.get_nowait()

    def route(self, event: Event) -> None:
        """Push the change EVENT makes to the streams of the nodes it concerns."""
        new: Any = event.obj
        old: Any = event.old
        if not self._streams:
            return
        if event.action is Action.DELETE:
            if visible(new):
                self._push(new.node_id, event.revision, REMOVE, new)
            return
        if old is not None and old.node_id and old.node_id != new.node_id and visible(old):
            self._push(old.node_id, event.revision, REMOVE, old)
        if not visible(new):
            return
        if (
            old is not None
            and visible(old)
            and new.status.state > TaskState.ASSIGNED
            and same_for_agent(old, new)
        ):
            return  # only the status moved: the agent knows, it reported it
        self._push(new.node_id, event.revision, UPDATE, new)

    def _push(self, node_id: str, revision: int, action: int, task: Any) -> None:
        for s in self._streams.get(node_id, ()):
            if revision > s.revision:
                s.push(action, task)
