"""Liveness across managers: records per manager, judged by the leader only (real etcd)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from shoal.manager.dispatcher import Dispatcher, DispatcherConfig
from shoal.manager.dispatcher.liveness import Liveness, node_ttl
from shoal.manager.dispatcher.liveness_records import (
    decode,
    encode,
    lease_ttl,
    read_records,
    records_prefix,
)
from shoal.manager.store import Store
from shoal.proto.shoal.v1.objects_pb2 import Node, NodeStatus
from tests.manager.conftest import eventually
from tests.manager.dispatcher.helpers import description

CONFIG = DispatcherConfig(heartbeat_period=0.2, grace_multiplier=1.5, min_grace=0.3,
                          check_interval=0.05)


def test_ttl_is_half_a_period_late_but_at_least_min_grace() -> None:
    assert node_ttl(5.0, 1.5, 1.0) == 7.5
    assert node_ttl(1.0, 1.5, 1.0) == 2.0
    assert lease_ttl(7.5) == 8 and lease_ttl(0.5) == 2
    assert decode(encode({"b", "a"})) == {"a", "b"} and decode(b"") == set()


def test_liveness_lists_tracked_nodes_until_collected() -> None:
    now = [0.0]
    live = Liveness(lambda: now[0])
    live.beat("a", 1.0)
    now[0] = 2.0
    assert live.nodes() == {"a"} and not live.alive("a")
    assert live.expired() == ["a"] and live.nodes() == set()


@contextlib.asynccontextmanager
async def manager(store: Store, name: str, *, leader: bool) -> AsyncIterator[Dispatcher]:
    """Run a dispatcher of manager NAME; the leader also runs the judge, as Manager does."""
    d = Dispatcher(store, CONFIG, manager_id=name)
    await d.start()
    judge = asyncio.create_task(d.judge.run()) if leader else None
    try:
        yield d
    finally:
        if judge is not None:
            judge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await judge
        await d.stop()


async def beat(d: Dispatcher, node_id: str, session_id: str) -> None:
    while True:
        d.heartbeat(node_id, session_id)
        await asyncio.sleep(0.1)


async def published(store: Store, manager_id: str, nodes: set[str]) -> None:
    """Wait until MANAGER_ID's record lists NODES."""
    prefix = records_prefix(store.keys.root)
    for _ in range(100):
        records = await read_records(store.client, prefix)
        if records.get(prefix + manager_id.encode()) == nodes:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"record of {manager_id} is {records}, not {nodes}")


def state(store: Store, node_id: str) -> int:
    node = store.get(Node, node_id)
    return int(node.status.state) if node is not None else -1


async def test_a_node_heartbeating_to_a_follower_stays_ready_and_is_judged_by_the_leader(
    store: Store,
) -> None:
    async with manager(store, "m1", leader=True) as leader, \
            manager(store, "m2", leader=False) as follower:
        s = await follower.open_session("node-a", description())
        beater = asyncio.create_task(beat(follower, "node-a", s.session_id))
        await published(store, "m2", {"node-a"})
        await asyncio.sleep(1.5)  # many TTLs: the leader must not mark it down
        assert state(store, "node-a") == NodeStatus.READY
        assert leader.judge.downed == 0
        beater.cancel()
        await eventually(lambda: state(store, "node-a") == NodeStatus.DOWN, 5)
        node = store.get(Node, "node-a")
        assert node is not None and node.status.message == "heartbeat failure"
        assert follower.judge.downed == 0 and leader.judge.downed == 1
        # it comes back through the leader's dispatcher: READY, and held there
        s2 = await leader.open_session("node-a", description())
        assert state(store, "node-a") == NodeStatus.READY
        beater = asyncio.create_task(beat(leader, "node-a", s2.session_id))
        await asyncio.sleep(0.8)
        assert state(store, "node-a") == NodeStatus.READY
        beater.cancel()


async def test_nodes_of_a_manager_that_stops_get_a_window_to_reconnect(store: Store) -> None:
    async with manager(store, "m1", leader=True) as leader:
        async with manager(store, "m2", leader=False) as follower:
            s = await follower.open_session("node-a", description())
            await follower.open_session("node-b", description("host-b"))
            beater = asyncio.create_task(beat(follower, "node-a", s.session_id))
            await published(store, "m2", {"node-a", "node-b"})
            await asyncio.sleep(0.3)  # the leader has read the record
            beater.cancel()
        # m2 stopped: its record is gone. node-a reconnects to m1 within its window,
        # node-b does not and goes DOWN once the window has passed.
        s = await leader.open_session("node-a", description())
        beater = asyncio.create_task(beat(leader, "node-a", s.session_id))
        await eventually(lambda: state(store, "node-b") == NodeStatus.DOWN, 10)
        assert state(store, "node-a") == NodeStatus.READY
        beater.cancel()


async def test_a_new_leader_gives_unknown_ready_nodes_one_ttl(store: Store) -> None:
    async with manager(store, "m1", leader=False) as follower:
        await follower.open_session("node-a", description())
        async with manager(store, "m2", leader=True):
            await asyncio.sleep(0.2)
            assert state(store, "node-a") == NodeStatus.READY  # not yet: within its window
            await eventually(lambda: state(store, "node-a") == NodeStatus.DOWN, 10)


@pytest.mark.parametrize("period", [0.2])
async def test_records_are_written_per_change_not_per_heartbeat(store: Store,
                                                                 period: float) -> None:
    async with manager(store, "m1", leader=True) as d:
        s = await d.open_session("node-a", description())
        await published(store, "m1", {"node-a"})
        beater = asyncio.create_task(beat(d, "node-a", s.session_id))
        assert d.record is not None
        before = d.record.writes
        await asyncio.sleep(1.0)  # ten heartbeats
        assert d.record.writes == before
        beater.cancel()
