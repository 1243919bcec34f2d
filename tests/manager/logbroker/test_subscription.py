"""Subscription: fan-in of several nodes, when it ends, timeouts, backpressure, resume."""

from __future__ import annotations

import asyncio

from shoal.manager.logbroker.subscription import NodeState, Subscription
from shoal.proto.shoal.v1.logbroker_pb2 import (
    LogContext,
    LogMessage,
    LogSelector,
    LogSubscriptionOptions,
)


def _sub(follow: bool = False, timeout: float = 5.0, pending: int = 100) -> Subscription:
    return Subscription("sub1", LogSelector(service_ids=["svc"]),
                        LogSubscriptionOptions(follow=follow, tail=-1),
                        node_timeout=timeout, max_pending=pending)


def _line(node: str, text: str, ns: int = 0) -> LogMessage:
    m = LogMessage(context=LogContext(service_id="svc", node_id=node, task_id=f"t-{node}"),
                   data=text.encode() + b"\n", stream=1)  # type: ignore[arg-type]
    m.timestamp.FromNanoseconds(ns)
    return m


async def _collect(sub: Subscription, timeout: float = 5.0) -> list[str]:
    async def run() -> list[str]:
        return [m.data.decode().strip() async for m in sub]

    return await asyncio.wait_for(run(), timeout)


async def test_ends_once_every_node_closed_with_lines_of_all() -> None:
    sub = _sub()
    sub.add_node("a")
    sub.add_node("b")
    reader = asyncio.create_task(_collect(sub))
    await sub.publish("a", [_line("a", "a1"), _line("a", "a2")], close=False)
    await sub.publish("b", [_line("b", "b1")], close=True)
    await asyncio.sleep(0.05)
    assert not reader.done()  # a has not closed yet
    await sub.publish("a", [_line("a", "a3")], close=True)
    lines = await reader
    assert sorted(lines) == ["a1", "a2", "a3", "b1"]
    assert [x for x in lines if x.startswith("a")] == ["a1", "a2", "a3"]  # per node order
    assert sub.warning() == ""


async def test_no_node_ends_at_once() -> None:
    assert await _collect(_sub()) == []


async def test_unavailable_node_fails_at_once_and_is_named() -> None:
    sub = _sub()
    sub.add_node("a")
    sub.add_node("down", available=False)
    await sub.publish("a", [_line("a", "x")], close=True)
    assert await _collect(sub, 1.0) == ["x"]
    assert sub.warning() == ("warning: incomplete log stream. some logs could not be retrieved "
                             "for the following reasons: node down is not available")


async def test_silent_node_times_out_and_activity_pushes_the_deadline() -> None:
    sub = _sub(timeout=0.3)
    sub.add_node("slow")
    sub.add_node("silent")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    reader = asyncio.create_task(_collect(sub))
    for i in range(4):  # "slow" keeps talking past the timeout: it is waited for
        await asyncio.sleep(0.15)
        await sub.publish("slow", [_line("slow", f"s{i}")], close=False)
    await sub.publish("slow", [], close=True)
    lines = await reader
    assert lines == ["s0", "s1", "s2", "s3"]
    assert loop.time() - t0 >= 0.6
    assert sub.nodes["silent"].state is NodeState.FAILED
    assert sub.nodes["slow"].state is NodeState.CLOSED
    assert sub.errors == ["node silent is not available"]


async def test_node_given_up_on_that_speaks_is_waited_for_again() -> None:
    sub = _sub(timeout=0.1)
    sub.add_node("a")
    sub.add_node("b")
    await sub.publish("b", [], close=True)
    await asyncio.sleep(0.15)
    assert sub.expire() == ["a"]
    await sub.publish("a", [_line("a", "late")], close=True)
    assert await _collect(sub) == ["late"]
    assert sub.warning() == ""


async def test_follow_never_ends_by_itself_and_close_ends_it() -> None:
    sub = _sub(follow=True, timeout=0.05)
    sub.add_node("a", available=False)  # with follow a down node may come back
    assert sub.nodes["a"].state is NodeState.PENDING
    reader = asyncio.create_task(_collect(sub))
    await sub.publish("a", [_line("a", "1")], close=True)  # close is ignored with follow
    await asyncio.sleep(0.2)
    assert not reader.done()
    sub.close()
    assert await reader == ["1"]


async def test_publishers_wait_for_a_slow_client() -> None:
    sub = _sub(pending=2)
    sub.add_node("a")
    for i in range(2):
        await sub.publish("a", [_line("a", str(i))], close=False)
    blocked = asyncio.create_task(sub.publish("a", [_line("a", "2")], close=True))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    assert await _collect(sub) == ["0", "1", "2"]
    assert blocked.done()


async def test_client_leaving_releases_waiting_publishers() -> None:
    sub = _sub(pending=1)
    sub.add_node("a")
    await sub.publish("a", [_line("a", "0")], close=False)
    blocked = asyncio.create_task(sub.publish("a", [_line("a", "1")], close=False))
    await asyncio.sleep(0.05)
    sub.close()
    await asyncio.wait_for(blocked, 1)


async def test_resent_subscription_asks_only_for_what_follows_the_last_line() -> None:
    sub = _sub()
    sub.add_node("a")
    assert not sub.message_for("a").options.HasField("since")
    await sub.publish("a", [_line("a", "x", ns=5_000_000_123)], close=False)
    msg = sub.message_for("a")
    assert msg.options.since.ToNanoseconds() == 5_000_001_123
    assert msg.options.tail == -1 and msg.id == "sub1"
