"""Each manager's live nodes, published under one leased etcd key per manager.

A dispatcher knows only the sessions it holds, yet only the leader may
declare a node DOWN (liveness_judge.py). So each dispatcher publishes the ids
of the nodes whose heartbeats it receives at `<root>/liveness/<manager id>`
(one id per line), bound to a lease of its own:

- the key is rewritten only when the set changes (a session opened, a node
  expired or was removed), at most once per `flush_interval`: one write per
  manager per change, never one per heartbeat;
- the lease is renewed every third of its TTL (`lease_ttl`, about the nodes'
  own TTL); a manager that dies stops renewing it, and etcd deletes the key
  once the TTL has passed, which tells the leader that the nodes listed there
  lost their manager (they get a window to reconnect elsewhere);
- a manager that stops cleanly revokes its lease: the key goes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Iterable

import aetcd
import grpc

log = logging.getLogger(__name__)

EtcdErrors = (grpc.RpcError, aetcd.ClientError, OSError, asyncio.TimeoutError)
CALL_TIMEOUT = 5.0


def records_prefix(root: str) -> bytes:
    """Return the prefix of every manager's liveness record under the store ROOT."""
    return f"{root}/liveness/".encode()


def lease_ttl(node_ttl: float) -> int:
    """Return the record lease's TTL (whole seconds, etcd's unit; at least 2, etcd's minimum)."""
    return max(2, math.ceil(node_ttl))


def encode(nodes: Iterable[str]) -> bytes:
    return "\n".join(sorted(nodes)).encode()


def decode(value: bytes) -> set[str]:
    return {n for n in value.decode(errors="replace").split("\n") if n}


async def read_records(client: aetcd.Client, prefix: bytes) -> dict[bytes, set[str]]:
    """Return every manager's published live nodes by record key (raises EtcdErrors)."""
    got = await asyncio.wait_for(client.get_prefix(prefix), CALL_TIMEOUT)
    return {kv.key: decode(kv.value) for kv in got}


class LivenessRecord:
    """Keeps this manager's record equal to the set of nodes alive here."""

    def __init__(
        self,
        client: aetcd.Client,
        key: bytes,
        ttl: Callable[[], int],
        flush_interval: float = 0.05,
    ) -> None:
        self.client = client
        self.key = key
        self._ttl = ttl
        self.flush_interval = flush_interval
        self._nodes: set[str] = set()
        self._dirty = asyncio.Event()
        self._lease: aetcd.Lease | None = None
        self._asked = 0  # the TTL asked for (etcd may grant more)
        self._task: asyncio.Task[None] | None = None
        self.writes = 0

    def add(self, node_id: str) -> None:
        if node_id not in self._nodes:
            self._nodes.add(node_id)
            self._dirty.set()

    def discard(self, node_id: str) -> None:
        if node_id in self._nodes:
            self._nodes.discard(node_id)
            self._dirty.set()

    def start(self) -> None:
        self._dirty.set()
        self._task = asyncio.create_task(self._run(), name="liveness-record")

    async def stop(self) -> None:
        """Stop publishing and revoke the lease (the record disappears at once)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        lease, self._lease = self._lease, None
        if lease is not None:
            with contextlib.suppress(*EtcdErrors):
                await asyncio.wait_for(self.client.revoke_lease(lease.id), CALL_TIMEOUT)

    async def _run(self) -> None:
        while True:
            try:
                await self._round()
            except EtcdErrors as exc:
                log.warning("liveness record %s not written: %s", self.key.decode(), exc)
                self._dirty.set()
                await asyncio.sleep(0.5)

    async def _round(self) -> None:
        """Renew or replace the lease, write the set if it changed, then wait for work."""
        ttl = self._ttl()
        lease = self._lease
        if lease is None or self._asked != ttl:
            new = await asyncio.wait_for(self.client.lease(ttl), CALL_TIMEOUT)
            self._lease, self._asked = new, ttl
            self._dirty.set()
            if lease is not None:  # the heartbeat period changed: the old lease goes
                with contextlib.suppress(*EtcdErrors):
                    await asyncio.wait_for(self.client.revoke_lease(lease.id), CALL_TIMEOUT)
            lease = new
        renew_at = asyncio.get_running_loop().time() + ttl / 3
        while True:
            if self._dirty.is_set():
                self._dirty.clear()
                await asyncio.wait_for(
                    self.client.put(self.key, encode(self._nodes), lease=lease.id), CALL_TIMEOUT
                )
                self.writes += 1
                await asyncio.sleep(self.flush_interval)  # coalesce a burst of sessions
            left = renew_at - asyncio.get_running_loop().time()
            if left <= 0:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), left)
        reply = await asyncio.wait_for(self.client.refresh_lease(lease.id), CALL_TIMEOUT)
        if reply is None or reply.TTL <= 0:
            log.warning("liveness record lease expired: writing the record again")
            self._lease = None
