"""Leader election on a real etcd: one leader, resignation, lease loss and failover."""

from __future__ import annotations

import asyncio
import time

from shoal.manager.election import Election, Term
from shoal.manager.etcd import EtcdProcess, connect
from tests.manager.conftest import eventually
from tests.manager.proxy import Proxy

TTL = 2  # etcd's minimum with its default heartbeat and election timeouts


class Recorder:
    """Runs as a leader's loop and records when it started and was stopped."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.cancelled: dict[str, float] = {}

    def lead(self, name: str):
        async def loop(term: Term) -> None:
            self.started[name] = time.monotonic()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled[name] = time.monotonic()
                raise

        return loop


async def test_one_leader_then_resign_hands_over(client, root: str) -> None:
    key = f"{root}/leader".encode()
    a = Election(client, "a", key=key, ttl=TTL)
    b = Election(client, "b", key=key, ttl=TTL)
    rec = Recorder()
    runs = [asyncio.create_task(a.run(rec.lead("a")))]
    await eventually(lambda: "a" in rec.started)
    runs.append(asyncio.create_task(b.run(rec.lead("b"))))
    await asyncio.sleep(TTL * 1.5)  # a keeps its lease alive past the TTL
    assert a.is_leader and not b.is_leader and "b" not in rec.started
    assert await a.leader() == "a"

    resigned = time.monotonic()
    await a.stop()
    await eventually(lambda: "b" in rec.started, timeout=TTL)
    assert "a" in rec.cancelled
    assert rec.started["b"] - resigned < TTL  # a revoked its lease: no TTL wait
    assert await b.leader() == "b"
    await b.stop()
    await asyncio.gather(*runs)
    assert await a.leader() is None


async def test_leader_that_loses_etcd_steps_down_and_other_takes_over(
    etcd_server: EtcdProcess, root: str
) -> None:
    key = f"{root}/leader".encode()
    proxy = Proxy(etcd_server.config.host, etcd_server.config.client_port)
    await proxy.start()
    lost: list[Term] = []
    try:
        async with (
            connect([proxy.endpoint], timeout=1) as via_proxy,
            connect([etcd_server.endpoint], timeout=1) as direct,
        ):
            a = Election(via_proxy, "a", key=key, ttl=TTL, on_lost=lost.append)
            b = Election(direct, "b", key=key, ttl=TTL)
            rec = Recorder()
            run_a = asyncio.create_task(a.run(rec.lead("a")))
            await eventually(lambda: "a" in rec.started)
            run_b = asyncio.create_task(b.run(rec.lead("b")))
            await asyncio.sleep(0.5)

            cut = time.monotonic()
            proxy.cut()  # a can no longer renew its lease
            await eventually(lambda: "b" in rec.started, timeout=3 * TTL)
            failover = rec.started["b"] - cut
            print(f"failover after the leader lost etcd: {failover:.2f}s (ttl {TTL}s)")

            # a stepped down on its own, before b was elected, and its loop was cancelled
            assert lost and lost[0].reason
            assert rec.cancelled["a"] <= rec.started["b"]
            assert not a.is_leader and b.is_leader
            assert failover < TTL + 1.5  # lease TTL + etcd's expiry check, with slack

            proxy.restore()
            await b.stop()
            await eventually(lambda: a.is_leader, timeout=3 * TTL)
            await a.stop()
            await asyncio.gather(run_a, run_b)
    finally:
        await proxy.stop()


async def test_deleting_the_key_deposes_the_leader(client, root: str) -> None:
    key = f"{root}/leader".encode()
    reasons: list[str] = []
    a = Election(client, "a", key=key, ttl=TTL, on_lost=lambda t: reasons.append(t.reason))
    term = await a.campaign()
    await client.delete(key)
    await asyncio.wait_for(term.lost.wait(), TTL)
    assert reasons == ["leader key deleted or taken over"]
    await a.stop()
