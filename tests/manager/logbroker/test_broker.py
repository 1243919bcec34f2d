"""LogBroker over a real store: which nodes are asked, checks on publishers, follow, cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shoal.manager.logbroker import (
    LogBroker,
    LogBrokerConfig,
    PermissionDenied,
    SubscriptionGone,
    docker_line,
)
from shoal.manager.store import Store
from shoal.proto.shoal.v1.logbroker_pb2 import (
    LogContext,
    LogMessage,
    LogSubscriptionOptions,
    PublishLogsMessage,
    SubscriptionMessage,
)
from shoal.proto.shoal.v1.objects_pb2 import Node, NodeStatus, Task
from tests.manager.conftest import eventually
from tests.manager.dispatcher.helpers import task


@pytest.fixture
async def broker(store: Store) -> AsyncIterator[LogBroker]:
    b = LogBroker(store, LogBrokerConfig(node_timeout=1.0))
    await b.start()
    yield b
    await b.stop()


class Listening:
    """An agent's ListenSubscriptions stream, read in the background."""

    def __init__(self, broker: LogBroker, node_id: str) -> None:
        self.got: list[SubscriptionMessage] = []
        self.job = asyncio.create_task(self._run(broker, node_id))

    async def _run(self, broker: LogBroker, node_id: str) -> None:
        async for msg in broker.listen(node_id):
            self.got.append(msg)

    async def stop(self) -> None:
        self.job.cancel()
        await asyncio.gather(self.job, return_exceptions=True)


async def _nodes(store: Store, *ids: str, state: int = NodeStatus.READY) -> None:
    for node_id in ids:
        await store.create(Node(id=node_id, status=NodeStatus(state=state)))  # type: ignore[arg-type]
        await eventually(lambda node_id=node_id: store.get(Node, node_id) is not None)


async def _task(store: Store, node_id: str, service_id: str = "svc1") -> Task:
    t = await store.create(task(node_id, service_id=service_id))
    await eventually(lambda: store.get(Task, t.id) is not None)  # in the broker's cache
    return t


def _line(t: Task, text: str, node_claimed: str = "") -> LogMessage:
    m = LogMessage(context=LogContext(service_id=t.service_id, task_id=t.id,
                                      node_id=node_claimed),
                   stream=1, data=text.encode() + b"\n")  # type: ignore[arg-type]
    m.timestamp.FromNanoseconds(1_700_000_000_123_456_789)
    return m


async def _read(sub: Any, timeout: float = 5.0) -> list[LogMessage]:
    async def run() -> list[LogMessage]:
        return [m async for m in sub]

    return await asyncio.wait_for(run(), timeout)


async def test_asks_the_nodes_of_the_service_and_fans_their_logs_in(
        store: Store, broker: LogBroker) -> None:
    await _nodes(store, "n1", "n2", "n3")
    t1, t2 = await _task(store, "n1"), await _task(store, "n2")
    await _task(store, "n3", service_id="other")
    listeners = {n: Listening(broker, n) for n in ("n1", "n2", "n3")}
    await eventually(lambda: broker.listening() == ["n1", "n2", "n3"])
    try:
        async with broker.subscribe("svc1", LogSubscriptionOptions(tail=-1)) as sub:
            await eventually(lambda: len(listeners["n1"].got) == 1 == len(listeners["n2"].got))
            assert listeners["n3"].got == []
            sid = listeners["n1"].got[0].id
            assert listeners["n1"].got[0].selector.service_ids == ["svc1"]
            reader = asyncio.create_task(_read(sub))
            # a node's claim about its id is replaced by its identity
            await broker.publish("n1", PublishLogsMessage(
                subscription_id=sid, messages=[_line(t1, "one", node_claimed="n2")]))
            await broker.publish("n2", PublishLogsMessage(
                subscription_id=sid, messages=[_line(t2, "two")], close=True))
            await broker.publish("n1", PublishLogsMessage(subscription_id=sid, close=True))
            got = await reader
            assert sub.warning() == ""
        assert sorted((m.context.node_id, m.data) for m in got) == [
            ("n1", b"one\n"), ("n2", b"two\n")]
        one = next(m for m in got if m.data == b"one\n")
        assert docker_line(one, timestamps=True, with_details=True) == (
            b"2023-11-14T22:13:20.123456789Z com.docker.swarm.node.id=n1,"
            b"com.docker.swarm.service.id=svc1,com.docker.swarm.task.id=" + t1.id.encode()
            + b" one\n")
        assert broker.subscriptions() == []
        # both closed: nobody is told to stop
        assert [m.close for m in listeners["n1"].got] == [False]
    finally:
        for lst in listeners.values():
            await lst.stop()


async def test_a_node_publishes_only_its_own_tasks_of_the_service(
        store: Store, broker: LogBroker) -> None:
    await _nodes(store, "n1", "n2")
    t1, t2 = await _task(store, "n1"), await _task(store, "n2")
    other = await _task(store, "n1", service_id="other")
    async with broker.subscribe("svc1", LogSubscriptionOptions(tail=-1)) as sub:
        with pytest.raises(PermissionDenied):  # n2's task
            await broker.publish("n1", PublishLogsMessage(
                subscription_id=sub.id, messages=[_line(t1, "ok"), _line(t2, "stolen")]))
        with pytest.raises(PermissionDenied):  # its own task, but of another service
            await broker.publish("n1", PublishLogsMessage(
                subscription_id=sub.id, messages=[_line(other, "x")]))
        with pytest.raises(PermissionDenied):  # a node that was not asked
            await broker.publish("n9", PublishLogsMessage(subscription_id=sub.id))
        gone = _line(t1, "reaped")
        gone.context.task_id = "no-such-task"
        await broker.publish("n1", PublishLogsMessage(
            subscription_id=sub.id, messages=[gone, _line(t1, "kept")], close=True))
        await broker.publish("n2", PublishLogsMessage(subscription_id=sub.id, close=True))
        assert [m.data for m in await _read(sub)] == [b"kept\n"]  # nothing of the refused
    with pytest.raises(SubscriptionGone):
        await broker.publish("n1", PublishLogsMessage(subscription_id=sub.id))


async def test_down_and_silent_nodes_end_the_stream_with_a_warning(
        store: Store, broker: LogBroker) -> None:
    await _nodes(store, "up", "quiet")
    await _nodes(store, "dead", state=NodeStatus.DOWN)
    for n in ("up", "quiet", "dead"):
        await _task(store, n)
    lst = Listening(broker, "up")  # "quiet" never listens here
    try:
        async with broker.subscribe("svc1", LogSubscriptionOptions(tail=-1)) as sub:
            await eventually(lambda: len(lst.got) == 1)
            await broker.publish("up", PublishLogsMessage(subscription_id=sub.id, close=True))
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            assert await _read(sub) == []
            assert loop.time() - t0 >= 0.5  # waited for "quiet" (node_timeout 1 s)
            assert sub.warning().endswith(
                "reasons: node dead is not available, node quiet is not available")
    finally:
        await lst.stop()


async def test_a_node_that_listens_later_gets_what_waits_for_it(
        store: Store, broker: LogBroker) -> None:
    await _nodes(store, "late")
    await _task(store, "late")
    async with broker.subscribe("svc1", LogSubscriptionOptions(tail=5)) as sub:
        lst = Listening(broker, "late")
        try:
            await eventually(lambda: len(lst.got) == 1)
            assert lst.got[0].id == sub.id and lst.got[0].options.tail == 5
            # a reconnect (new stream) gets it again: the old stream ends
            again = Listening(broker, "late")
            await eventually(lambda: len(again.got) == 1 and lst.job.done())
            await again.stop()
        finally:
            await lst.stop()


async def test_follow_adds_nodes_as_tasks_land_and_leaving_tells_agents_to_stop(
        store: Store, broker: LogBroker) -> None:
    await _nodes(store, "n1", "n2")
    await _task(store, "n1")
    l1, l2 = Listening(broker, "n1"), Listening(broker, "n2")
    try:
        async with broker.subscribe("svc1", LogSubscriptionOptions(follow=True, tail=0)) as sub:
            await eventually(lambda: len(l1.got) == 1)
            assert l2.got == []
            t2 = await _task(store, "n2")  # scaled up: a task lands on n2
            await eventually(lambda: len(l2.got) == 1)
            reader = asyncio.create_task(_read(sub, timeout=30))
            await broker.publish("n2", PublishLogsMessage(
                subscription_id=sub.id, messages=[_line(t2, "new")], close=True))
            await asyncio.sleep(0.1)
            assert not reader.done()  # follow: only the client ends it
        assert [m.data for m in await reader] == [b"new\n"]
        await eventually(lambda: len(l1.got) == 2 and len(l2.got) == 2)
        assert l1.got[1] == SubscriptionMessage(id=sub.id, close=True)
        assert l2.got[1].close
    finally:
        await l1.stop()
        await l2.stop()
