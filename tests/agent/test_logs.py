"""Service logs end to end: agents (fake log source) and a LogBroker behind one gRPC server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import pytest

from shoal.agent import Agent, AgentConfig
from shoal.agent.exec.fake import FakeExecutor
from shoal.agent.logs import LogAgent, TaskLog
from shoal.manager.dispatcher import SERVER_OPTIONS, Dispatcher, DispatcherConfig
from shoal.manager.dispatcher import add_to_server as add_dispatcher
from shoal.manager.logbroker import LogBroker, LogBrokerConfig
from shoal.manager.logbroker import add_to_server as add_logbroker
from shoal.manager.store import Store
from shoal.proto.shoal.v1 import logbroker_pb2 as pb
from shoal.proto.shoal.v1.objects_pb2 import Node, NodeStatus, Task
from tests.manager.conftest import eventually
from tests.manager.dispatcher.helpers import task


@dataclass
class FakeLogSource:
    """Each task has LINES; with follow, a reader then waits for more in `more[task]`."""

    node_id: str
    lines: dict[str, list[str]] = field(default_factory=dict)  # task id -> lines
    service: dict[str, str] = field(default_factory=dict)  # task id -> service id
    more: dict[str, asyncio.Queue[str]] = field(default_factory=dict)
    reading: set[str] = field(default_factory=set)  # tasks being followed now
    cancelled: int = 0

    def add(self, t: Task, *lines: str) -> None:
        self.lines[t.id] = list(lines)
        self.service[t.id] = t.service_id
        self.more[t.id] = asyncio.Queue()

    def tasks(self, service_id: str) -> list[TaskLog]:
        return [TaskLog(tid, sid, f"c-{tid}") for tid, sid in self.service.items()
                if sid == service_id]

    async def read(self, t: TaskLog, options: pb.LogSubscriptionOptions
                   ) -> AsyncIterator[pb.LogMessage]:
        lines = self.lines[t.task_id]
        if options.tail >= 0:
            lines = lines[len(lines) - options.tail:] if options.tail else []
        for text in lines:
            yield self._msg(t, text)
        if not options.follow:
            return
        self.reading.add(t.task_id)
        try:
            while True:
                yield self._msg(t, await self.more[t.task_id].get())
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.reading.discard(t.task_id)

    def _msg(self, t: TaskLog, text: str) -> pb.LogMessage:
        return pb.LogMessage(context=pb.LogContext(service_id=t.service_id, task_id=t.task_id,
                                                   node_id=self.node_id),
                             stream=pb.LOG_STREAM_STDOUT, data=text.encode() + b"\n")


@dataclass
class Served:
    dispatcher: Dispatcher
    broker: LogBroker
    server: grpc.aio.Server
    addr: str


@pytest.fixture
async def served(store: Store) -> AsyncIterator[Served]:
    d = Dispatcher(store, DispatcherConfig(heartbeat_period=0.3, check_interval=0.05))
    b = LogBroker(store, LogBrokerConfig(node_timeout=2.0))
    await d.start()
    await b.start()
    server = grpc.aio.server(options=SERVER_OPTIONS)
    add_dispatcher(server, d)
    add_logbroker(server, b)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield Served(d, b, server, f"127.0.0.1:{port}")
    await b.stop()
    await d.stop()
    await server.stop(0)


def _agent(node_id: str, addr: str, source: FakeLogSource) -> Agent:
    cfg = AgentConfig(node_id=node_id, report_interval=0.01, backoff_initial=0.05,
                      backoff_max=0.2)
    agent = Agent(cfg, FakeExecutor(hostname=node_id), None, [addr], logs=source)
    assert agent.logs is not None
    agent.logs.config.poll_interval = 0.05
    return agent


async def _placed(store: Store, node_id: str, service_id: str = "svc1") -> Task:
    """Return a task of SERVICE_ID on NODE_ID, in the store (the agent runs it, fakely)."""
    t = await store.create(task(node_id, service_id=service_id))
    await eventually(lambda: store.get(Task, t.id) is not None)
    return t


async def _read_all(sub: AsyncIterator[pb.LogMessage]) -> list[pb.LogMessage]:
    return [m async for m in sub]


async def test_logs_of_every_node_are_gathered_and_the_stream_ends(
        served: Served, store: Store) -> None:
    sources = {n: FakeLogSource(n) for n in ("n1", "n2")}
    agents = [_agent(n, served.addr, s) for n, s in sources.items()]
    for a in agents:
        await a.start()
    try:
        await eventually(lambda: served.broker.listening() == ["n1", "n2"])
        for n, src in sources.items():
            t = await _placed(store, n)
            src.add(t, *(f"{n} line {i}" for i in range(1, 4)))
        other = await _placed(store, "n1", service_id="other")
        sources["n1"].add(other, "not this service")
        await eventually(lambda: all(
            (node := store.get(Node, n)) is not None and node.status.state == NodeStatus.READY
            for n in sources))

        async with served.broker.subscribe("svc1", pb.LogSubscriptionOptions(tail=-1)) as sub:
            got = await asyncio.wait_for(_read_all(sub), 10)
            assert sub.warning() == ""
        assert sorted(m.data.decode().strip() for m in got) == sorted(
            f"{n} line {i}" for n in ("n1", "n2") for i in range(1, 4))
        assert {m.context.node_id for m in got} == {"n1", "n2"}

        async with served.broker.subscribe("svc1", pb.LogSubscriptionOptions(tail=1)) as sub:
            got = await asyncio.wait_for(_read_all(sub), 10)
        assert sorted(m.data for m in got) == [b"n1 line 3\n", b"n2 line 3\n"]
        await eventually(lambda: all(not a.logs.jobs for a in agents))  # type: ignore[union-attr]
    finally:
        for a in agents:
            await a.stop()


async def test_follow_streams_new_lines_until_the_client_leaves(
        served: Served, store: Store) -> None:
    src = FakeLogSource("n1")
    agent = _agent("n1", served.addr, src)
    await agent.start()
    try:
        await eventually(lambda: served.broker.listening() == ["n1"])
        t = await _placed(store, "n1")
        src.add(t, "old")
        await eventually(lambda: (n := store.get(Node, "n1")) is not None
                         and n.status.state == NodeStatus.READY)
        opts = pb.LogSubscriptionOptions(follow=True, tail=0)
        async with served.broker.subscribe("svc1", opts) as sub:
            it = aiter(sub)
            await eventually(lambda: t.id in src.reading)
            src.more[t.id].put_nowait("new 1")
            assert (await asyncio.wait_for(anext(it), 5)).data == b"new 1\n"
            # a task that starts later on the node is followed too
            t2 = await _placed(store, "n1")
            src.add(t2, "t2 first")
            msg = await asyncio.wait_for(anext(it), 5)
            assert msg.data == b"t2 first\n" and msg.context.task_id == t2.id
        # the client left: the agent is told to stop and its readers end
        await eventually(lambda: not src.reading and src.cancelled == 2)
        await eventually(lambda: not agent.logs.jobs)  # type: ignore[union-attr]
    finally:
        await agent.stop()


async def test_a_node_cannot_publish_the_logs_of_another_nodes_task(
        served: Served, store: Store) -> None:
    honest, liar = FakeLogSource("n1"), FakeLogSource("n2")
    agents = [_agent("n1", served.addr, honest), _agent("n2", served.addr, liar)]
    for a in agents:
        await a.start()
    try:
        await eventually(lambda: served.broker.listening() == ["n1", "n2"])
        mine = await _placed(store, "n1")
        await _placed(store, "n2")  # n2 is involved, but claims n1's task
        honest.add(mine, "real")
        liar.add(mine, "forged")
        async with served.broker.subscribe("svc1", pb.LogSubscriptionOptions(tail=-1)) as sub:
            got = await asyncio.wait_for(_read_all(sub), 10)
            # refused, n2 never closes: after node_timeout it is named
            assert sub.errors == ["node n2 is not available"]
        assert [(m.context.node_id, m.data) for m in got] == [("n1", b"real\n")]
    finally:
        for a in agents:
            await a.stop()


async def test_without_a_log_broker_the_agent_keeps_its_session(store: Store) -> None:
    d = Dispatcher(store, DispatcherConfig(heartbeat_period=0.3, check_interval=0.05))
    await d.start()
    server = grpc.aio.server(options=SERVER_OPTIONS)
    add_dispatcher(server, d)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    agent = _agent("n1", f"127.0.0.1:{port}", FakeLogSource("n1"))
    await agent.start()
    try:
        await asyncio.wait_for(agent.connected.wait(), 10)
        await asyncio.sleep(1.0)
        assert agent.sessions_opened == 1  # UNIMPLEMENTED did not drop the session
    finally:
        await agent.stop()
        await d.stop()
        await server.stop(0)


def test_log_agent_is_built_only_with_a_source() -> None:
    agent = Agent(AgentConfig(node_id="n"), FakeExecutor(), None, ["127.0.0.1:1"])
    assert agent.logs is None
    assert isinstance(LogAgent(FakeLogSource("n")).config.max_batch, int)
