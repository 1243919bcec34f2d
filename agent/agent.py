"""The agent: a session with any manager, heartbeats, assignments, status reports.

    agent = Agent(AgentConfig(node_id=..., state_dir=...), executor, credentials,
                  ["10.0.0.1:4242", "10.0.0.2:4242"])
    await agent.start()     # resumes persisted tasks, then connects in the background
    ...
    await agent.stop()      # containers keep running; the next agent re-adopts them

One connection at a time. While it lasts four loops run together: the
session stream (manager list updates), heartbeats at the period the manager
asks, the assignment stream (applied by the Worker), and the status reporter;
with a LogSource, a fifth serves the manager's log subscriptions (logs.py).
When any of them fails the connection is dropped and the agent tries the next
manager, with exponential backoff (reset once a session opens).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from typing import Any

import grpc

from shoal.agent.config import AgentConfig
from shoal.agent.exec.interfaces import Executor
from shoal.agent.logs import LogAgent, LogSource
from shoal.agent.reporter import StatusReporter
from shoal.agent.storage import TaskStorage
from shoal.agent.worker import Worker
from shoal.proto.shoal.v1 import dispatcher_pb2 as pb
from shoal.proto.shoal.v1 import dispatcher_pb2_grpc as pb_grpc
from shoal.proto.shoal.v1.objects_pb2 import Node, NodeDescription

log = logging.getLogger(__name__)

# metadata names the dispatcher reads on insecure channels (manager/dispatcher/auth.py)
NODE_ID_METADATA = "shoal-node-id"
NODE_ROLE_METADATA = "shoal-node-role"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


# A manager that died or was cut off answers nothing (no RST, no SYN-ACK): the agent
# gives a connection CONNECT_TIMEOUT, a new session's first message
# SESSION_OPEN_TIMEOUT, and a heartbeat max(MIN_HEARTBEAT_TIMEOUT, period) before it
# tries another manager. The leader's liveness judge allows a live agent that long to
# reconnect (manager/dispatcher/liveness.py, reconnect_window).
CONNECT_TIMEOUT = 2.0
SESSION_OPEN_TIMEOUT = 10.0
MIN_HEARTBEAT_TIMEOUT = 1.5


class SessionLost(Exception):
    """The manager ended the session or broke the assignment sequence."""


class Agent:
    """Connects this node to the cluster and runs its tasks through EXECUTOR."""

    def __init__(
        self,
        config: AgentConfig,
        executor: Executor,
        credentials: grpc.ChannelCredentials | None,
        managers: Sequence[str],
        logs: LogSource | None = None,
    ) -> None:
        if not managers:
            raise ValueError("an agent needs at least one manager address")
        self.config = config
        self.executor = executor
        self.credentials = credentials
        self.managers = list(managers)
        self.storage = TaskStorage(config.state_dir)
        self.reporter = StatusReporter(config.report_interval, config.max_updates_per_request)
        self.worker = Worker(executor, self.storage, self.reporter)
        self.logs = LogAgent(logs) if logs is not None else None
        self.session_id = ""
        self._heartbeat_period = 5.0  # the last period a manager asked for
        self._failed = ""  # the manager whose session failed last
        self.node: Node | None = None
        self.manager = ""  # address of the manager of the current session
        self.connected = asyncio.Event()
        self.sessions_opened = 0
        self._next = random.randrange(len(self.managers))
        self._job: asyncio.Task[None] | None = None
        self._metadata: tuple[tuple[str, str], ...] = ()
        if credentials is None:
            self._metadata = ((NODE_ID_METADATA, config.node_id), (NODE_ROLE_METADATA, config.role))

    async def start(self) -> None:
        """Resume persisted tasks, then keep a session open in the background."""
        await self.worker.start()
        self._job = asyncio.create_task(self._run(), name=f"agent-{self.config.node_id[:12]}")

    async def stop(self) -> None:
        """Close the session and stop driving tasks (their containers keep running)."""
        if self._job is not None:
            self._job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._job
            self._job = None
        await self.worker.stop()
        self.connected.clear()

    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # The connection loop.

    async def _run(self) -> None:
        delay = self.config.backoff_initial
        while True:
            addr = self._pick_manager()
            opened = self.sessions_opened
            try:
                await self._connect(addr)
            except asyncio.CancelledError:
                raise
            except (grpc.RpcError, SessionLost, OSError) as exc:
                log.info("session with %s ended: %s", addr, _describe(exc))
            except Exception:
                log.exception("session with %s failed", addr)
            self._failed = addr
            self.connected.clear()
            if self.sessions_opened != opened:
                delay = self.config.backoff_initial  # it worked for a while
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.config.backoff_max)

    def _pick_manager(self) -> str:
        """Return the next manager in turn, not the one whose session just failed."""
        for _ in range(len(self.managers)):
            addr = self.managers[self._next % len(self.managers)]
            self._next += 1
            if addr != self._failed:
                return addr
        return self.managers[0]

    def _channel(self, addr: str) -> grpc.aio.Channel:
        if self.credentials is None:
            return grpc.aio.insecure_channel(addr, options=CHANNEL_OPTIONS)
        options = [*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", self.config.tls_server_name)]
        return grpc.aio.secure_channel(addr, self.credentials, options=options)

    async def _connect(self, addr: str) -> None:
        async with self._channel(addr) as channel:
            await asyncio.wait_for(channel.channel_ready(), CONNECT_TIMEOUT)
            stub = pb_grpc.DispatcherStub(channel)
            description = await self._describe()
            session = stub.Session(
                pb.SessionRequest(description=description, session_id=self.session_id),
                metadata=self._metadata,
            )
            try:
                # a manager that cannot be reached (cable cut, host dead) sends no SYN-ACK:
                # try the next one rather than wait for TCP to give up
                first = await asyncio.wait_for(session.read(), SESSION_OPEN_TIMEOUT)
                if first is grpc.aio.EOF:
                    raise SessionLost("the session stream closed at once")
                self._on_session_message(first)
                self.manager = addr
                self.sessions_opened += 1
                self.connected.set()
                log.info("session %s open with %s", self.session_id[:8], addr)
                loops = [
                    self._session_loop(session),
                    self._heartbeat_loop(stub),
                    self._assignments_loop(stub),
                    self.reporter.run(lambda updates: self._send_status(stub, updates)),
                ]
                if self.logs is not None:
                    loops.append(self.logs.run(channel, self._metadata))
                await _first_failure(loops)
            finally:
                session.cancel()

    async def _describe(self) -> NodeDescription:
        d = await self.executor.describe()
        cfg = self.config
        if cfg.hostname:
            d.hostname = cfg.hostname
        if cfg.addr:
            d.addr = cfg.addr
        for k, v in cfg.labels.items():
            d.engine.labels[k] = v
        return d

    def _on_session_message(self, msg: Any) -> None:
        self.session_id = msg.session_id
        if msg.HasField("node"):
            self.node = msg.node
        addrs = [m.addr for m in msg.managers if m.addr]
        if addrs:
            self.managers = addrs + [a for a in self.managers if a not in addrs]

    async def _session_loop(self, session: Any) -> None:
        while True:
            msg = await session.read()
            if msg is grpc.aio.EOF:
                raise SessionLost("the manager closed the session")
            self._on_session_message(msg)

    async def _heartbeat_loop(self, stub: pb_grpc.DispatcherStub) -> None:
        """Heartbeat at the manager's period; a heartbeat unanswered for a period drops the session.

        A manager that died (or was cut off) does not answer: the agent moves to
        the next one before that manager's record of it expires (docs/agent.md).
        """
        while True:
            resp = await stub.Heartbeat(
                pb.HeartbeatRequest(session_id=self.session_id),
                metadata=self._metadata,
                timeout=min(self.config.rpc_timeout,
                            max(MIN_HEARTBEAT_TIMEOUT, self._heartbeat_period)),
            )
            period = resp.period.ToTimedelta().total_seconds() or 1.0
            self._heartbeat_period = period
            await asyncio.sleep(period)

    async def _assignments_loop(self, stub: pb_grpc.DispatcherStub) -> None:
        call = stub.Assignments(
            pb.AssignmentsRequest(session_id=self.session_id), metadata=self._metadata
        )
        expected = 1
        try:
            async for msg in call:
                if msg.sequence != expected:
                    raise SessionLost(f"assignment {msg.sequence} arrived, {expected} expected")
                if expected == 1 and msg.type != pb.AssignmentsMessage.COMPLETE:
                    raise SessionLost("the assignment stream did not start with the full set")
                expected += 1
                self.worker.apply(msg)
        finally:
            call.cancel()
        raise SessionLost("the manager closed the assignment stream")

    async def _send_status(
        self, stub: pb_grpc.DispatcherStub, updates: list[pb.TaskStatusUpdate]
    ) -> None:
        await stub.UpdateTaskStatus(
            pb.UpdateTaskStatusRequest(session_id=self.session_id, updates=updates),
            metadata=self._metadata,
            timeout=self.config.rpc_timeout,
        )


async def _first_failure(coros: list[Any]) -> None:
    """Run COROS together until one ends; cancel the others and raise its error."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            t.result()  # raises the failure
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__
