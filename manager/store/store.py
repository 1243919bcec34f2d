"""The Store: optimistic, batched writes to etcd and reads from the watch cache.

Every write is one or more etcd transactions that compare each object's
mod_revision (kept in the object as meta.version.index) or its absence, so a
write based on a stale read fails with VersionConflict instead of losing
someone else's change. `batch` packs many writes per transaction within etcd's
limits (txn.py). Reads never go to etcd: they come from the WatchCache that
the Informer keeps equal to etcd.

A write that fails with StoreUnavailable may or may not have been applied
(etcd can time out after committing); callers re-read from the cache before
retrying.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import aetcd
import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from shoal.manager.store import txn
from shoal.manager.store.cache import WatchCache
from shoal.manager.store.errors import (
    InvalidObject,
    NotFound,
    StoreError,
    StoreUnavailable,
    VersionConflict,
)
from shoal.manager.store.events import Event, Subscription
from shoal.manager.store.informer import Informer
from shoal.manager.store.kinds import Keyspace, KindRef, kind_of, new_id
from shoal.manager.store.txn import Compiled, Create, Delete, Op, Update

M = TypeVar("M", bound=Message)

_UNAVAILABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@dataclass
class StoreConfig:
    """Where and how the store writes; the limits must not exceed etcd's."""

    # root of every key ("/shoal" gives /shoal/v1/<kind>/<id>)
    root: str = "/shoal"
    # etcd's --max-txn-ops (applies to compares, writes and checks separately)
    max_txn_ops: int = 128
    # etcd's --max-request-bytes (1.5 MiB)
    max_request_bytes: int = 1536 * 1024
    # deadline of each etcd call
    request_timeout: float = 10.0
    # objects per page of the cache's initial list
    list_page_size: int = 1000
    # how long `mutate` waits for the cache to catch up after a conflict
    sync_timeout: float = 10.0


@dataclass
class BatchResult:
    """What `Store.batch` did: successful ops got their new meta.version."""

    revision: int = 0  # revision of the last transaction that wrote
    written: int = 0  # operations applied
    transactions: int = 0  # transactions committed
    errors: dict[int, StoreError] = field(default_factory=dict)  # op index -> error

    def raise_first(self) -> None:
        """Raise the error of the first failed operation, if any."""
        if self.errors:
            raise self.errors[min(self.errors)]


def _now() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


def map_rpc_error(exc: Exception) -> StoreError:
    """Return the store error for an etcd/gRPC failure."""
    code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None
    detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
    if code in _UNAVAILABLE or isinstance(exc, (aetcd.ConnectionFailedError, OSError)):
        return StoreUnavailable(f"etcd unavailable: {detail}")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidObject(f"etcd refused the request: {detail}")
    return StoreError(f"etcd error: {detail}")


class Store:
    """Objects in etcd under `config.root`, with a watch cache for reads."""

    def __init__(self, client: aetcd.Client, config: StoreConfig | None = None) -> None:
        self.client = client
        self.config = config or StoreConfig()
        self.keys = Keyspace(self.config.root)
        self.cache = WatchCache()
        self.informer = Informer(
            client,
            self.keys,
            self.cache,
            page_size=self.config.list_page_size,
            request_timeout=self.config.request_timeout,
        )

    async def start(self) -> None:
        """List every object into the cache and start watching."""
        await self.informer.start()

    async def stop(self) -> None:
        """Stop watching and close subscriptions; the client stays open (the caller's)."""
        await self.informer.stop()
        self.cache.close_subscriptions()

    async def __aenter__(self) -> Store:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # Reads, from the cache.

    def get(self, kind: type[M], obj_id: str, *, copy: bool = True) -> M | None:
        return self.cache.get(kind, obj_id, copy=copy)

    def list(
        self, kind: type[M], where: Callable[[M], bool] | None = None, *, copy: bool = True
    ) -> builtins.list[M]:
        return self.cache.list(kind, where, copy=copy)

    def subscribe(
        self, *kinds: KindRef, where: Callable[[Event], bool] | None = None
    ) -> Subscription:
        return self.cache.subscribe(*kinds, where=where)

    async def wait_for(self, revision: int, timeout: float | None = None) -> None:
        """Wait until the cache shows the writes up to REVISION (read your writes)."""
        await self.cache.wait_for(revision, timeout or self.config.sync_timeout)

    # Writes.

    async def create(self, obj: M) -> M:
        """Store a new OBJ (an id is assigned if empty); return it with its meta set."""
        await self.batch([Create(obj)], atomic=True)
        return obj

    async def update(self, obj: M) -> M:
        """Replace OBJ if its meta.version is current; return it with the new version."""
        await self.batch([Update(obj)], atomic=True)
        return obj

    async def delete(self, kind: KindRef, obj_id: str, version: int = 0) -> int:
        """Remove an object (only at VERSION, if given); return the revision."""
        return (await self.batch([Delete(kind, obj_id, version)], atomic=True)).revision

    async def mutate(
        self, kind: type[M], obj_id: str, change: Callable[[M], bool | None], retries: int = 10
    ) -> M:
        """Apply CHANGE to a fresh copy of an object and store it, retrying on conflicts.

        CHANGE edits the copy in place; returning False skips the write.
        Returns the object as stored (or as read, if skipped).
        """
        last: VersionConflict | None = None
        for _ in range(retries):
            obj = self.cache.get(kind, obj_id)
            if obj is None:
                raise NotFound(kind_of(kind).name, obj_id)
            if change(obj) is False:
                return obj
            try:
                return await self.update(obj)
            except VersionConflict as exc:
                last = exc
                await self.cache.wait_for(exc.actual, self.config.sync_timeout)
        assert last is not None
        raise last

    async def batch(self, ops: Sequence[Op], *, atomic: bool = False) -> BatchResult:
        """Apply OPS in order, many per transaction.

        Not atomic: a failing operation is reported in the result and the
        others of its transaction are retried without it. ATOMIC: all
        operations in one transaction or none; the first error is raised.
        """
        result = BatchResult()
        compiled: builtins.list[Compiled] = []
        for i, op in enumerate(ops):
            try:
                compiled.append(await self._compile(i, op))
            except StoreError as exc:
                if atomic:
                    raise
                result.errors[i] = exc
        groups = list(txn.split(compiled, self.config.max_txn_ops, self.config.max_request_bytes))
        if atomic and len(groups) > 1:
            raise InvalidObject("the operations do not fit in one etcd transaction")
        for group in groups:
            await self._commit(group, result, atomic)
        if atomic:
            result.raise_first()
        return result

    async def _commit(
        self, group: builtins.list[Compiled], result: BatchResult, atomic: bool
    ) -> None:
        while group:
            try:
                resp = await self.client.kvstub.Txn(
                    txn.request(group),
                    timeout=self.config.request_timeout,
                    metadata=self.client.metadata,
                )
            except (grpc.RpcError, aetcd.ClientError, OSError) as exc:
                raise map_rpc_error(exc) from exc
            if resp.succeeded:
                revision = int(resp.header.revision)
                for c in group:
                    if not isinstance(c.op, Delete):
                        cast(Any, c.op.obj).meta.version.index = revision
                result.revision = revision
                result.written += len(group)
                result.transactions += 1
                return
            errors = txn.explain(group, resp.responses)
            if not errors:
                raise StoreError("etcd transaction failed without a failing comparison")
            result.errors.update(errors)
            if atomic:
                return
            group = [c for c in group if c.index not in errors]

    async def _compile(self, index: int, op: Op) -> Compiled:
        if isinstance(op, Delete):
            kind = kind_of(op.kind)
            c = Compiled(index, op, kind, op.obj_id, expected=op.version)
            name_key = None
            if kind.unique_names:
                c.name = await self._name_of(kind.message, op.obj_id)
                name_key = self.keys.name_key(kind, c.name)
            txn.compile_delete(c, self.keys.key(kind, op.obj_id), name_key)
            return c
        obj: Any = op.obj
        kind = kind_of(obj)
        now = _now()
        if isinstance(op, Create):
            if not obj.id:
                obj.id = new_id()
            obj.meta.created_at.CopyFrom(now)
            obj.meta.updated_at.CopyFrom(now)
            c = Compiled(index, op, kind, obj.id, name=kind.name_of(obj))
            name_key = None
            if kind.unique_names:
                if not c.name:
                    raise InvalidObject(f"a {kind.name.rstrip('s')} needs a name")
                name_key = self.keys.name_key(kind, c.name)
            txn.compile_create(c, self.keys.key(kind, obj.id), name_key, txn.serialize(obj))
            return c
        if not obj.id or not obj.meta.version.index:
            raise InvalidObject(f"updating a {kind.name.rstrip('s')} needs its id and version")
        if kind.unique_names:
            current = self.cache.get(kind.message, obj.id, copy=False)
            if current is not None and kind.name_of(current) != kind.name_of(obj):
                raise InvalidObject(f"renaming a {kind.name.rstrip('s')} is not supported")
        obj.meta.updated_at.CopyFrom(now)
        c = Compiled(index, op, kind, obj.id, expected=int(obj.meta.version.index))
        txn.compile_update(c, self.keys.key(kind, obj.id), txn.serialize(obj))
        return c

    async def _name_of(self, kind: type[Message], obj_id: str) -> str:
        """Return an object's (immutable) name: from the cache, else from etcd."""
        k = kind_of(kind)
        cached = self.cache.get(kind, obj_id, copy=False)
        if cached is not None:
            return k.name_of(cached)
        try:
            got = await self.client.get(self.keys.key(k, obj_id))
        except (grpc.RpcError, aetcd.ClientError, OSError) as exc:
            raise map_rpc_error(exc) from exc
        if got is None:
            raise NotFound(k.name, obj_id)
        return k.name_of(k.parse(got.value))
