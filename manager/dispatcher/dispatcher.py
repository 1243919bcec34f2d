"""The dispatcher's logic: sessions, heartbeats, assignments and status reports.

Every manager runs one (DESIGN §4). It is called by the gRPC servicer
(servicer.py) with the caller's node id taken from its certificate, and is
testable without a network. What it keeps per node lives in dicts: the
session, the heartbeat deadline (liveness.py) and the assignment streams
(assignments.py). Store writes happen only on transitions and are batched
(batcher.py): a session that registers or changes the node, a node that
misses its heartbeats (DOWN, once), task status reports.

Liveness across managers: each dispatcher publishes the nodes alive here
(liveness_records.py) and only the leader's judge (liveness_judge.py)
writes nodes DOWN. A dispatcher made without a manager id is alone: it
publishes nothing and runs the judge itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shoal.manager.dispatcher.assignments import AssignmentRouter
from shoal.manager.dispatcher.batcher import WriteBatcher
from shoal.manager.dispatcher.config import DispatcherConfig
from shoal.manager.dispatcher.errors import (
    DispatcherStopped,
    PermissionDenied,
    SessionInvalid,
)
from shoal.manager.dispatcher.liveness import Liveness, node_ttl, reconnect_window
from shoal.manager.dispatcher.liveness_judge import LivenessJudge
from shoal.manager.dispatcher.liveness_records import LivenessRecord, lease_ttl, records_prefix
from shoal.manager.dispatcher.netstates import NetworkStates
from shoal.manager.dispatcher.status import StatusWriter
from shoal.manager.store import Action, Store, Subscription
from shoal.proto.shoal.v1.dispatcher_pb2 import (
    AssignmentsMessage,
    SessionMessage,
    TaskStatusUpdate,
    WeightedPeer,
)
from shoal.proto.shoal.v1.objects_pb2 import Cluster, Node, NodeDescription, NodeStatus
from shoal.proto.shoal.v1.specs_pb2 import NodeSpec
from shoal.proto.shoal.v1.types_pb2 import NodeRole

log = logging.getLogger(__name__)

READY = NodeStatus.READY
DOWN = NodeStatus.DOWN
HEARTBEAT_FAILURE = "heartbeat failure"

ManagerList = Callable[[], Sequence[WeightedPeer]]


@dataclass(eq=False)
class _Session:
    id: str
    node_id: str
    messages: asyncio.Queue[SessionMessage | BaseException | None] = field(
        default_factory=asyncio.Queue
    )

    def end(self, error: BaseException | None = None) -> None:
        self.messages.put_nowait(error)


class Dispatcher:
    """Serves the agents of the cluster from one manager."""

    def __init__(
        self,
        store: Store,
        config: DispatcherConfig | None = None,
        *,
        managers: ManagerList | None = None,
        manager_id: str = "",
    ) -> None:
        self.store = store
        self.config = config or DispatcherConfig()
        self._managers = managers or self._managers_from_store
        self.liveness = Liveness()
        prefix = records_prefix(store.keys.root)
        own_key = prefix + manager_id.encode() if manager_id else None
        # with a manager id the Manager runs `judge.run()` among its leader loops
        self.judge = LivenessJudge(
            store, self.liveness, lambda: reconnect_window(self.heartbeat_period()),
            self._mark_down,
            prefix=prefix if manager_id else None, own_key=own_key,
            interval=self.config.check_interval,
        )
        self.record: LivenessRecord | None = None
        if own_key is not None:
            self.record = LivenessRecord(store.client, own_key, lambda: lease_ttl(self._ttl()))
        self.nodes = WriteBatcher(store, Node, self.config.node_flush_interval, "nodes")
        self.status = StatusWriter(store, self.config.status_flush_interval)
        self.router = AssignmentRouter(
            store, self.config.assignment_batch_interval, self.config.max_changes_per_message
        )
        self.networks = NetworkStates(store, self.router, self.config.network_state_interval)
        self._sessions: dict[str, _Session] = {}
        self._node_sub: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_managers: list[WeightedPeer] = []
        self.running = False
        self.expired = 0  # sessions ended here for missed heartbeats

    # Lifecycle.

    async def start(self) -> None:
        """Start the writers, the router and the heartbeat checker (the store must run)."""
        self.nodes.start()
        self.status.start()
        self.router.start()
        self.networks.start()
        self._node_sub = self.store.subscribe(Node)
        self._last_managers = list(self._managers())
        self._tasks = [
            asyncio.create_task(self._check_heartbeats(), name="dispatcher-heartbeats"),
            asyncio.create_task(self._watch_nodes(), name="dispatcher-nodes"),
        ]
        if self.record is not None:
            self.record.start()
        else:
            self._tasks.append(asyncio.create_task(self.judge.run(), name="liveness-judge"))
        self.running = True

    async def stop(self) -> None:
        """End every session (agents move to another manager) and stop writing."""
        self.running = False
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        if self._node_sub is not None:
            self._node_sub.close()
        for s in list(self._sessions.values()):
            s.end(DispatcherStopped("the manager is stopping"))
        self._sessions.clear()
        if self.record is not None:
            await self.record.stop()
        await self.networks.stop()
        await self.router.stop()
        await self.status.stop()
        await self.nodes.stop()

    async def __aenter__(self) -> Dispatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # Sessions.

    def heartbeat_period(self) -> float:
        """Return the period agents must heartbeat at (the cluster's, else the config's)."""
        for cluster in self.store.list(Cluster, copy=False):
            hb = cluster.spec.dispatcher.heartbeat_period
            if hb.seconds or hb.nanos:
                return float(hb.seconds + hb.nanos / 1e9)
        return self.config.heartbeat_period

    async def open_session(
        self,
        node_id: str,
        description: NodeDescription,
        *,
        role: int = NodeRole.WORKER,
        session_id: str = "",
        peer_addr: str = "",
    ) -> SessionMessage:
        """Register NODE_ID (written only if something changed) and return the first message.

        SESSION_ID resumes the node's current session here, if it is still
        known; otherwise a new session replaces any previous one.
        """
        self._check_running()
        addr = description.addr or peer_addr
        await self.nodes.queue(node_id, _register(node_id, description, role, addr))
        old = self._sessions.get(node_id)
        if old is not None and old.id == session_id:
            session = old
        else:
            if old is not None:
                old.end(SessionInvalid("the node opened a new session"))
                self.router.close_node(node_id, SessionInvalid("the node opened a new session"))
            session = _Session(session_id or secrets.token_hex(16), node_id)
            self._sessions[node_id] = session
        self.liveness.beat(node_id, self._ttl())
        if self.record is not None:
            self.record.add(node_id)
        log.info("node %s opened session %s", node_id, session.id[:8])
        return self._session_message(session)

    async def session(
        self,
        node_id: str,
        description: NodeDescription,
        *,
        role: int = NodeRole.WORKER,
        session_id: str = "",
        peer_addr: str = "",
    ) -> AsyncIterator[SessionMessage]:
        """Open a session and yield its messages: the first one, then manager list changes."""
        first = await self.open_session(
            node_id, description, role=role, session_id=session_id, peer_addr=peer_addr
        )
        session = self._sessions[node_id]
        yield first
        while True:
            item = await session.messages.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def heartbeat(self, node_id: str, session_id: str) -> float:
        """Record a heartbeat of NODE_ID; return the period until the next one is due."""
        self._session_of(node_id, session_id)
        period = self.heartbeat_period()
        self.liveness.beat(node_id, self._ttl(period))
        return period

    async def assignments(self, node_id: str, session_id: str) -> AsyncIterator[AssignmentsMessage]:
        """Yield the node's COMPLETE task set, then INCREMENTAL changes, numbered from 1."""
        self._session_of(node_id, session_id)
        stream, complete = self.router.open(node_id)
        networks = self.networks.for_node(node_id)
        try:
            async for msg in stream.messages(complete, networks):
                yield msg
        finally:
            self.router.close(stream)

    async def update_task_status(
        self, node_id: str, session_id: str, updates: Sequence[TaskStatusUpdate]
    ) -> None:
        """Record the status reports of NODE_ID's tasks; return once they are written.

        Raises PermissionDenied (and records nothing) if a task runs elsewhere.
        """
        self._session_of(node_id, session_id)
        futures = self.status.submit(node_id, updates)
        if futures:
            await asyncio.gather(*futures)

    def update_managers(self) -> None:
        """Send the current manager list to every session if it changed."""
        peers = list(self._managers())
        if peers == self._last_managers:
            return
        self._last_managers = peers
        for s in self._sessions.values():
            s.messages.put_nowait(self._session_message(s))

    def sessions(self) -> int:
        return len(self._sessions)

    def stats(self) -> dict[str, int]:
        """Return counters of what the dispatcher did (benchmarks, debugging)."""
        return {
            "sessions": len(self._sessions),
            "node_writes": self.nodes.written,
            "node_rounds": self.nodes.rounds,
            "node_conflicts": self.nodes.conflicts,
            "status_writes": self.status.batcher.written,
            "status_rounds": self.status.batcher.rounds,
            "status_conflicts": self.status.batcher.conflicts,
            "status_ignored": self.status.ignored,
            "assignment_messages": self.router.messages_sent,
            "network_computations": self.networks.computations,
            "network_changes": self.networks.changes_sent,
            "expired": self.expired,
            "downed": self.judge.downed,
            "liveness_writes": self.record.writes if self.record is not None else 0,
        }

    # Internals.

    def _check_running(self) -> None:
        if not self.running:
            raise DispatcherStopped("the dispatcher is not running")

    def _ttl(self, period: float | None = None) -> float:
        """Return how long a node stays alive after a heartbeat (liveness.node_ttl)."""
        if period is None:
            period = self.heartbeat_period()
        return node_ttl(period, self.config.grace_multiplier, self.config.min_grace)

    def _session_of(self, node_id: str, session_id: str) -> _Session:
        self._check_running()
        session = self._sessions.get(node_id)
        if session is None or session.id != session_id:
            if any(s.id == session_id for s in self._sessions.values()):
                raise PermissionDenied(f"session {session_id[:8]} belongs to another node")
            raise SessionInvalid(f"session {session_id[:8]} of node {node_id} is not known here")
        return session

    def _session_message(self, session: _Session) -> SessionMessage:
        msg = SessionMessage(session_id=session.id, managers=self._last_managers)
        node = self.store.get(Node, session.node_id, copy=False)
        if node is not None:
            msg.node.CopyFrom(node)
        for cluster in self.store.list(Cluster, copy=False):
            msg.root_ca = cluster.root_ca.ca_cert
            break
        return msg

    def _managers_from_store(self) -> list[WeightedPeer]:
        return [
            WeightedPeer(node_id=n.id, addr=n.manager_status.addr, weight=1)
            for n in self.store.list(Node, copy=False)
            if n.manager_status.addr
        ]

    def _expire(self, node_id: str) -> None:
        """End the session of a node whose deadline passed and release it to the judge."""
        self.expired += 1
        session = self._sessions.pop(node_id, None)
        error = SessionInvalid("heartbeats stopped: open a new session")
        if session is not None:
            session.end(error)
        self.router.close_node(node_id, error)
        if self.record is not None:
            self.record.discard(node_id)
        log.info("node %s missed its heartbeats here", node_id)
        self.judge.released(node_id)

    def _mark_down(self, node_id: str) -> None:
        self.nodes.queue_nowait(node_id, _set_state(DOWN, HEARTBEAT_FAILURE))

    async def _check_heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.config.check_interval)
            for node_id in self.liveness.expired():
                self._expire(node_id)

    async def _watch_nodes(self) -> None:
        """Keep live nodes READY and the manager list current."""
        assert self._node_sub is not None
        async for event in self._node_sub:
            node: Any = event.obj
            if event.action is Action.DELETE:
                session = self._sessions.pop(node.id, None)
                self.liveness.forget(node.id)
                if self.record is not None:
                    self.record.discard(node.id)
                self.router.close_node(node.id, SessionInvalid("the node was removed"))
                if session is not None:
                    session.end(SessionInvalid("the node was removed from the cluster"))
            elif (
                node.status.state != READY
                and node.id in self._sessions
                and self.liveness.alive(node.id)
            ):
                # the judge wrote it DOWN (a race), but it heartbeats here
                self.nodes.queue_nowait(node.id, _set_state(READY, ""))
            old: Any = event.old
            if old is None or event.action is Action.DELETE:
                changed = bool(node.manager_status.addr)
            else:
                changed = old.manager_status != node.manager_status
            if changed:
                self.update_managers()
            if (old is not None and event.action is not Action.DELETE
                    and old.spec != node.spec and node.id in self._sessions):
                # the node's spec changed (promote/demote, availability): tell its agent
                s = self._sessions[node.id]
                s.messages.put_nowait(self._session_message(s))


def _register(node_id: str, description: NodeDescription, role: int, addr: str) -> Any:
    def change(node: Any) -> Any:
        if node is None:
            node = Node(
                id=node_id,
                spec=NodeSpec(desired_role=role, availability=NodeSpec.ACTIVE),  # type: ignore[arg-type]
            )
        elif (
            node.description == description
            and node.status.state == READY
            and node.status.addr == addr
            and node.role == role
        ):
            return None  # a reconnect that changes nothing writes nothing
        node.description.CopyFrom(description)
        node.role = role
        node.status.state = READY
        node.status.message = ""
        node.status.addr = addr
        return node

    return change


def _set_state(state: int, message: str) -> Any:
    def change(node: Any) -> Any:
        if node is None or node.status.state == state:
            return None
        node.status.state = state
        node.status.message = message
        return node

    return change
