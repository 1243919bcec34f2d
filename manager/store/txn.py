"""Write operations, compiled to etcd transactions and split to fit etcd's limits.

Each operation becomes compares (what must still hold), success ops (the
writes) and checks (reads run only when a compare fails, to tell which
operation failed and why). Many operations share one transaction until one
more would pass etcd's per-transaction limits: `max_ops` for each of the
compare, success and failure lists (etcd's --max-txn-ops, 128 by default) and
`max_bytes` for the whole request (--max-request-bytes, 1.5 MiB by default).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aetcd import rpc
from google.protobuf.message import Message

from shoal.manager.store.errors import (
    AlreadyExists,
    InvalidObject,
    NotFound,
    StoreError,
    VersionConflict,
)
from shoal.manager.store.kinds import Kind, KindRef

# Room left in each request for etcd's own header and the gRPC framing.
REQUEST_OVERHEAD = 4096
_FIELD_OVERHEAD = 6  # tag + length prefix of one repeated element, at most


@dataclass
class Create:
    """Store a new object; fails with AlreadyExists if its id or unique name is taken."""

    obj: Message


@dataclass
class Update:
    """Replace an object; fails with VersionConflict unless meta.version is current."""

    obj: Message


@dataclass
class Delete:
    """Remove an object; VERSION 0 deletes whatever version is stored."""

    kind: KindRef
    obj_id: str
    version: int = 0


Op = Create | Update | Delete


@dataclass
class Compiled:
    """One operation as etcd requests, with what is needed to explain a failure."""

    index: int
    op: Op
    kind: Kind
    obj_id: str
    expected: int = 0
    name: str = ""
    compares: list[Any] = field(default_factory=list)
    success: list[Any] = field(default_factory=list)
    checks: list[Any] = field(default_factory=list)
    size: int = 0

    def measure(self) -> None:
        parts = (*self.compares, *self.success, *self.checks)
        self.size = sum(p.ByteSize() + _FIELD_OVERHEAD for p in parts)


def serialize(obj: Any) -> bytes:
    """Return OBJ's bytes as stored: without meta.version, which etcd keeps."""
    version = obj.meta.version.index
    obj.meta.ClearField("version")
    try:
        return bytes(obj.SerializeToString())
    finally:
        if version:
            obj.meta.version.index = version


def _put(key: bytes, value: bytes) -> Any:
    return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value))


def _delete(key: bytes) -> Any:
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key))


def _get(key: bytes, keys_only: bool = True) -> Any:
    return rpc.RequestOp(request_range=rpc.RangeRequest(key=key, keys_only=keys_only))


_TARGET_FIELDS = {"CREATE": "create_revision", "MOD": "mod_revision", "VERSION": "version"}


def _compare(key: bytes, target: str, result: str, value: int) -> Any:
    cmp = rpc.Compare(
        key=key, target=getattr(rpc.Compare, target), result=getattr(rpc.Compare, result)
    )
    setattr(cmp, _TARGET_FIELDS[target], value)
    return cmp


def compile_create(c: Compiled, key: bytes, name_key: bytes | None, value: bytes) -> None:
    c.compares.append(_compare(key, "CREATE", "EQUAL", 0))
    c.success.append(_put(key, value))
    c.checks.append(_get(key))
    if name_key is not None:
        c.compares.append(_compare(name_key, "CREATE", "EQUAL", 0))
        c.success.append(_put(name_key, c.obj_id.encode()))
        c.checks.append(_get(name_key, keys_only=False))
    c.measure()


def compile_update(c: Compiled, key: bytes, value: bytes) -> None:
    c.compares.append(_compare(key, "MOD", "EQUAL", c.expected))
    c.success.append(_put(key, value))
    c.checks.append(_get(key))
    c.measure()


def compile_delete(c: Compiled, key: bytes, name_key: bytes | None) -> None:
    if c.expected:
        c.compares.append(_compare(key, "MOD", "EQUAL", c.expected))
    else:
        c.compares.append(_compare(key, "VERSION", "GREATER", 0))
    c.success.append(_delete(key))
    if name_key is not None:
        c.success.append(_delete(name_key))
    c.checks.append(_get(key))
    c.measure()


def split(ops: Sequence[Compiled], max_ops: int, max_bytes: int) -> Iterator[list[Compiled]]:
    """Yield groups of OPS, in order, each fitting one transaction."""
    budget = max_bytes - REQUEST_OVERHEAD
    group: list[Compiled] = []
    n_cmp = n_ok = n_chk = size = 0
    for c in ops:
        if (
            len(c.compares) > max_ops
            or len(c.success) > max_ops
            or len(c.checks) > max_ops
            or c.size > budget
        ):
            raise InvalidObject(
                f"{c.kind.name.rstrip('s')} {c.obj_id} is too large for one etcd request "
                f"({c.size} bytes, limit {budget})"
            )
        if group and (
            n_cmp + len(c.compares) > max_ops
            or n_ok + len(c.success) > max_ops
            or n_chk + len(c.checks) > max_ops
            or size + c.size > budget
        ):
            yield group
            group, n_cmp, n_ok, n_chk, size = [], 0, 0, 0, 0
        group.append(c)
        n_cmp += len(c.compares)
        n_ok += len(c.success)
        n_chk += len(c.checks)
        size += c.size
    if group:
        yield group


def request(group: Sequence[Compiled]) -> Any:
    """Return the TxnRequest for GROUP."""
    return rpc.TxnRequest(
        compare=[x for c in group for x in c.compares],
        success=[x for c in group for x in c.success],
        failure=[x for c in group for x in c.checks],
    )


def explain(group: Sequence[Compiled], responses: Sequence[Any]) -> dict[int, StoreError]:
    """Return the errors (by op index) that made GROUP's transaction fail.

    RESPONSES are the failure branch's range responses, one per check, in order.
    """
    errors: dict[int, StoreError] = {}
    pos = 0
    for c in group:
        found = [responses[pos + i].response_range.kvs for i in range(len(c.checks))]
        pos += len(c.checks)
        err = _explain_one(c, found)
        if err is not None:
            errors[c.index] = err
    return errors


def _explain_one(c: Compiled, found: list[Any]) -> StoreError | None:
    kind = c.kind.name
    if isinstance(c.op, Create):
        if found[0]:
            return AlreadyExists(kind, f"with id {c.obj_id}", c.obj_id)
        if len(found) > 1 and found[1]:
            return AlreadyExists(kind, f"named {c.name!r}", found[1][0].value.decode())
        return None
    if not found[0]:
        return NotFound(kind, c.obj_id)
    actual = int(found[0][0].mod_revision)
    if c.expected and actual != c.expected:
        return VersionConflict(kind, c.obj_id, c.expected, actual)
    return None
