"""Leader election through an etcd lease and a transaction.

A candidate grants a lease of `ttl` seconds and, in one transaction, creates
the leader key bound to that lease if the key is absent. The winner keeps the
lease alive; the others watch the key and try again as soon as it is deleted
(the leader resigned, or its lease expired and etcd removed the key).

A leader steps down on its own, at once, when
  * a keepalive answers that the lease is gone (TTL 0),
  * its own deadline passes: the time it *sent* its last successful
    keepalive (or the grant) plus the TTL etcd answered. etcd counts the TTL
    from when it *received* that request, so the old leader always gives up
    before etcd can expire its key and elect someone else;
  * the leader key is deleted or rewritten (seen by a watch).
Stepping down sets `Term.lost`, calls `on_lost`, and `run()` cancels the
leader's task. Failover therefore takes at most the TTL (plus etcd's expiry
check, 0.5 s) after the leader's last successful keepalive. The default TTL
is 3 s, so that a new leader is elected within 5 s even when the dead leader's
host also held etcd's raft leader: etcd then first elects a new raft leader
(1-2 s with its default timings) and renews every lease for its full TTL
(measured by bench/failover.py). Keepalives go every second, which leaves room
for a slow disk (etcd's minimum TTL is 2 s with its default timings).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aetcd
import grpc
from aetcd import rpc

log = logging.getLogger(__name__)

DEFAULT_TTL = 3
ElectionError = (grpc.RpcError, aetcd.ClientError, OSError, TimeoutError)


@dataclass
class Term:
    """One period of leadership; `lost` is set the moment it ends."""

    candidate: str
    lease_id: int
    # revision is the leader key's create revision: unique per term, growing
    # (usable as a fencing token).
    revision: int
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""


class Election:
    """One candidate for the leader key KEY (e.g. Keyspace.leader)."""

    def __init__(
        self,
        client: aetcd.Client,
        candidate: str,
        *,
        key: bytes = b"/shoal/leader",
        ttl: int = DEFAULT_TTL,
        on_lost: Callable[[Term], None] | None = None,
    ) -> None:
        self.client = client
        self.candidate = candidate
        self.key = key
        self.ttl = ttl
        self.on_lost = on_lost
        self.term: Term | None = None
        self._guards: list[asyncio.Task[None]] = []
        self._stopping = False
        self._runner: asyncio.Task[Any] | None = None

    @property
    def is_leader(self) -> bool:
        return self.term is not None and not self.term.lost.is_set()

    async def leader(self) -> str | None:
        """Return the current leader's candidate name, None if there is none."""
        got = await self.client.get(self.key)
        return got.value.decode() if got is not None else None

    async def campaign(self) -> Term:
        """Wait until this candidate leads; return its term (guarded in the background)."""
        while True:
            granted_at = time.monotonic()
            lease = await self.client.lease(self.ttl)
            won, revision, holder, holder_lease = await self._try_acquire(lease.id)
            if not won and holder == self.candidate and holder_lease:
                # our own previous incarnation (a restarted manager, the same node id) still
                # holds the key until its lease expires: it is dead, take over now
                log.info("%s: taking over the leader key from its previous run", self.candidate)
                with contextlib.suppress(*ElectionError):
                    await self.client.revoke_lease(holder_lease)
                won, revision, holder, holder_lease = await self._try_acquire(lease.id)
            if won:
                term = Term(self.candidate, lease.id, revision)
                self.term = term
                deadline = granted_at + lease.ttl
                self._guards = [
                    asyncio.create_task(
                        self._keep_alive(term, deadline), name="election-keepalive"
                    ),
                    asyncio.create_task(self._watch_key(term), name="election-watch"),
                ]
                log.info("%s leads (lease %x, revision %d)", self.candidate, lease.id, revision)
                return term
            with contextlib.suppress(*ElectionError):
                await self.client.revoke_lease(lease.id)
            log.debug("%s follows %s", self.candidate, holder)
            await self._wait_for_deletion(revision)

    async def run(self, lead: Callable[[Term], Coroutine[Any, Any, None]]) -> None:
        """Campaign, run LEAD(term) while leading, cancel it when the term ends; repeat.

        Returns after `stop()`. If LEAD returns or fails, leadership is resigned.
        """
        self._runner = asyncio.current_task()
        try:
            while not self._stopping:
                try:
                    term = await self.campaign()
                except ElectionError as exc:
                    log.warning("%s cannot campaign: %s", self.candidate, exc)
                    await asyncio.sleep(min(1.0, self.ttl / 3))
                    continue
                await self._lead(term, lead)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        finally:
            self._runner = None

    async def _lead(self, term: Term, lead: Callable[[Term], Coroutine[Any, Any, None]]) -> None:
        task = asyncio.create_task(lead(term), name="leader")
        lost = asyncio.create_task(term.lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if not task.cancelled() and task.exception() is not None:
            log.error("leader task failed: %r", task.exception())
        if not term.lost.is_set():
            await self.resign()

    async def resign(self) -> None:
        """Give up leadership now (revoking the lease deletes the key at once)."""
        term = self.term
        if term is None:
            return
        self._lose(term, "resigned")
        await self._stop_guards()
        with contextlib.suppress(*ElectionError):
            await asyncio.wait_for(self.client.revoke_lease(term.lease_id), self.ttl)

    async def stop(self) -> None:
        """Resign if leading and make `run()` return."""
        self._stopping = True
        await self.resign()
        runner = self._runner
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def _try_acquire(self, lease_id: int) -> tuple[bool, int, str, int]:
        """Create the key if absent; return (won, key's revision, holder, holder's lease)."""
        request = rpc.TxnRequest(
            compare=[
                rpc.Compare(
                    key=self.key,
                    target=rpc.Compare.CREATE,
                    result=rpc.Compare.EQUAL,
                    create_revision=0,
                )
            ],
            success=[
                rpc.RequestOp(
                    request_put=rpc.PutRequest(
                        key=self.key, value=self.candidate.encode(), lease=lease_id
                    )
                )
            ],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=self.key))],
        )
        resp = await self.client.kvstub.Txn(
            request, timeout=self.ttl, metadata=self.client.metadata
        )
        if resp.succeeded:
            return True, int(resp.header.revision), self.candidate, lease_id
        kvs = resp.responses[0].response_range.kvs
        if not kvs:  # deleted between compare and range: cannot happen in one txn
            return False, int(resp.header.revision), "", 0
        kv = kvs[0]
        return False, int(kv.mod_revision), kv.value.decode(errors="replace"), int(kv.lease)

    async def _wait_for_deletion(self, revision: int) -> None:
        """Return when the key is deleted after REVISION (or after a TTL, to re-check)."""
        try:
            await self.client.watch_once(
                self.key,
                timeout=self.ttl,
                start_revision=revision + 1,
                kind=aetcd.EventKind.DELETE,
            )
        except aetcd.WatchTimeoutError:
            pass
        except ElectionError as exc:
            log.debug("election watch failed: %s", exc)
            await asyncio.sleep(min(1.0, self.ttl / 3))

    async def _keep_alive(self, term: Term, deadline: float) -> None:
        interval = self.ttl / 3
        next_at = time.monotonic() + interval
        while not term.lost.is_set():
            await asyncio.sleep(max(0.0, min(next_at, deadline) - time.monotonic()))
            sent = time.monotonic()
            if sent >= deadline:
                self._lose(term, "lease not renewed before its deadline")
                return
            try:
                reply = await asyncio.wait_for(self._refresh(term.lease_id), deadline - sent)
            except ElectionError as exc:
                log.warning("%s keepalive failed: %s", self.candidate, exc)
                next_at = time.monotonic() + min(0.2, interval)
                continue
            if reply is None or reply.TTL <= 0:
                self._lose(term, "lease expired")
                return
            deadline = sent + reply.TTL
            next_at = sent + interval

    async def _refresh(self, lease_id: int) -> Any:
        call = self.client.leasestub.LeaseKeepAlive(
            iter([rpc.LeaseKeepAliveRequest(ID=lease_id)]), metadata=self.client.metadata
        )
        async for reply in call:
            return reply
        return None

    async def _watch_key(self, term: Term) -> None:
        """Step down as soon as the key is deleted or taken over."""
        try:
            watch = await self.client.watch(self.key, start_revision=term.revision + 1)
        except ElectionError as exc:
            log.debug("leader key watch not started: %s", exc)
            return
        try:
            async for event in watch:
                kv = event.kv
                if event.kind == aetcd.EventKind.DELETE or kv.lease != term.lease_id:
                    self._lose(term, "leader key deleted or taken over")
                    return
        except ElectionError as exc:  # the keepalive deadline still guards the term
            log.debug("leader key watch ended: %s", exc)
        finally:
            with contextlib.suppress(*ElectionError):
                await watch.cancel()

    def _lose(self, term: Term, reason: str) -> None:
        if term.lost.is_set():
            return
        term.reason = reason
        term.lost.set()
        log.warning("%s lost leadership: %s", self.candidate, reason)
        if self.on_lost is not None:
            self.on_lost(term)
        current = asyncio.current_task()
        for guard in self._guards:
            if guard is not current:
                guard.cancel()

    async def _stop_guards(self) -> None:
        guards, self._guards = self._guards, []
        current = asyncio.current_task()
        for guard in guards:
            if guard is not current:
                guard.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await guard
