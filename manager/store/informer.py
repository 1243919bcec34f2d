"""Feed a WatchCache from etcd: list at a revision, then watch from the next one.

The informer pattern: one paginated Range pinned at revision R gives a
consistent snapshot, one Watch from R+1 gives every later change in order.
When the watch breaks (etcd restarted, connection lost) it resumes from the
cache's revision + 1; when that revision has been compacted away it lists
again and the cache emits the difference as events. The raw etcd Watch and
Range RPCs of aetcd's stubs are used because aetcd's helpers offer neither
pinned-revision pagination nor fragmented watch responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aetcd
import grpc
from aetcd import rpc
from google.protobuf.message import DecodeError, Message

from shoal.manager.store.cache import WatchCache
from shoal.manager.store.errors import StoreUnavailable
from shoal.manager.store.kinds import KINDS, Keyspace, Kind, prefix_end

log = logging.getLogger(__name__)

_PUT = rpc.Event.PUT


class _Compacted(Exception):
    """The watch cannot resume: its start revision is compacted or it was cancelled."""


class Informer:
    """Keeps a WatchCache equal to the objects under a keyspace."""

    def __init__(
        self,
        client: aetcd.Client,
        keyspace: Keyspace,
        cache: WatchCache,
        *,
        page_size: int = 1000,
        request_timeout: float = 10.0,
        backoff: tuple[float, float] = (0.1, 2.0),
    ) -> None:
        self.client = client
        self.keyspace = keyspace
        self.cache = cache
        self.page_size = page_size
        self.request_timeout = request_timeout
        self.backoff = backoff
        self.synced = asyncio.Event()
        self.relists = 0  # full lists done, the first one included
        self._task: asyncio.Task[None] | None = None
        self._call: Any = None
        self._delay = backoff[0]

    async def start(self) -> None:
        """List everything, then keep watching in the background."""
        try:
            await self.client.connect()
            await self.relist()
        except (grpc.RpcError, aetcd.ClientError) as exc:
            raise StoreUnavailable(f"cannot list the store: {exc}") from exc
        self._task = asyncio.create_task(self._run(), name="store-informer")

    async def stop(self) -> None:
        if self._call is not None:
            self._call.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.synced.clear()

    async def relist(self) -> None:
        """Replace the cache's content with a fresh list (emitting the difference)."""
        revision, snapshot = await self._list()
        emitted = self.cache.replace_all(snapshot, revision)
        self.relists += 1
        log.info("store listed at revision %d (%d changes)", revision, emitted)

    async def _list(self) -> tuple[int, dict[str, dict[str, Message]]]:
        prefix = self.keyspace.objects
        while True:
            try:
                return await self._list_at_one_revision(prefix)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.OUT_OF_RANGE:  # compacted mid-list
                    raise

    async def _list_at_one_revision(self, prefix: bytes) -> tuple[int, dict[str, dict[str, Any]]]:
        snapshot: dict[str, dict[str, Any]] = {k.name: {} for k in KINDS}
        start, end, revision = prefix, prefix_end(prefix), 0
        while True:
            request = rpc.RangeRequest(
                key=start, range_end=end, limit=self.page_size, revision=revision
            )
            resp = await self.client.kvstub.Range(
                request, timeout=self.request_timeout, metadata=self.client.metadata
            )
            revision = revision or resp.header.revision
            for kv in resp.kvs:
                decoded = self._decode(kv)
                if decoded is not None:
                    snapshot[decoded[0].name][decoded[1].id] = decoded[1]
            if not resp.more or not resp.kvs:
                return revision, snapshot
            start = resp.kvs[-1].key + b"\0"

    def _decode(self, kv: Any) -> tuple[Kind, Any] | None:
        parsed = self.keyspace.parse(kv.key)
        if parsed is None:
            return None
        kind, obj_id = parsed
        try:
            obj: Any = kind.parse(kv.value)
        except DecodeError:
            log.error("skipping undecodable %s object at %r", kind.name, kv.key)
            return None
        obj.id = obj_id
        obj.meta.version.index = kv.mod_revision
        return kind, obj

    async def _run(self) -> None:
        """Watch forever: resume after breaks (with backoff), relist after compactions."""
        while True:
            try:
                await self._watch()
                log.warning("store watch stream ended; resuming")
            except _Compacted as exc:
                log.info("store watch fell behind (%s); listing again", exc)
                try:
                    await self.relist()
                    continue
                except (grpc.RpcError, aetcd.ClientError, OSError) as err:
                    log.warning("store relist failed: %s", err)
            except (grpc.RpcError, aetcd.ClientError, OSError) as exc:
                log.warning("store watch broke: %s; retrying in %.1fs", exc, self._delay)
            except Exception:  # never let the cache stop following etcd silently
                log.exception("store watch failed; retrying in %.1fs", self._delay)
            self.synced.clear()
            await asyncio.sleep(self._delay)
            self._delay = min(self._delay * 2, self.backoff[1])

    async def _watch(self) -> None:
        """Apply watch events from the cache's revision + 1 until the stream ends."""
        await self.client.connect()
        prefix = self.keyspace.objects
        stub = rpc.WatchStub(self.client.channel)
        call = stub.Watch(metadata=self.client.metadata)
        self._call = call
        try:
            create = rpc.WatchCreateRequest(
                key=prefix,
                range_end=prefix_end(prefix),
                start_revision=self.cache.revision + 1,
                fragment=True,
            )
            await call.write(rpc.WatchRequest(create_request=create))
            pending: list[Any] = []
            while True:
                resp = await call.read()
                if resp is grpc.aio.EOF:
                    return
                if resp.compact_revision:
                    raise _Compacted(f"compacted at revision {resp.compact_revision}")
                if resp.canceled:
                    raise _Compacted(f"watch cancelled: {resp.cancel_reason or 'no reason'}")
                if resp.created:
                    self.synced.set()
                    self._delay = self.backoff[0]
                pending.extend(resp.events)
                if resp.fragment:
                    continue
                if pending:
                    self._apply(pending)
                    pending = []
        finally:
            self._call = None
            call.cancel()

    def _apply(self, events: list[Any]) -> None:
        cache = self.cache
        last = cache.revision
        for ev in events:
            rev = ev.kv.mod_revision
            last = max(last, rev)
            if ev.type == _PUT:
                decoded = self._decode(ev.kv)
                if decoded is not None:
                    cache.put(decoded[0], decoded[1], rev)
            else:
                parsed = self.keyspace.parse(ev.kv.key)
                if parsed is not None:
                    cache.delete(parsed[0], parsed[1], rev)
        cache.advance(last)
