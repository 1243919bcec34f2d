"""The kinds of stored objects, where they live in etcd, and how they are indexed.

Key layout (docs/store.md), under a configurable root ("/shoal"):

    <root>/v1/<kind>/<id>       the object, protobuf-serialised (watched by caches)
    <root>/names/<kind>/<name>  the id holding a unique name (services, networks,
                                secrets, configs, clusters); written in the same
                                transaction as the object, never watched
    <root>/leader               the leader election key (manager/election.py)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from google.protobuf.message import Message

from shoal.manager.store.errors import InvalidObject
from shoal.proto.shoal.v1 import objects_pb2

M = TypeVar("M", bound=Message)

_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 25


def new_id() -> str:
    """Return a random 25-character lowercase base36 id (128 bits), like Docker's."""
    n = secrets.randbits(128)
    out = []
    for _ in range(ID_LENGTH):
        n, r = divmod(n, 36)
        out.append(_ID_ALPHABET[r])
    return "".join(out)


def _spec_name(obj: Any) -> str:
    return str(obj.spec.annotations.name)


def _node_name(obj: Any) -> str:
    return str(obj.spec.annotations.name or obj.description.hostname)


def _task_name(obj: Any) -> str:
    return str(obj.annotations.name)


def _one(value: str) -> list[str]:
    return [value] if value else []


def _task_slot(task: Any) -> list[str]:
    # Replicated tasks share a slot number; global tasks are keyed by node.
    if not task.service_id:
        return []
    return [f"{task.service_id}/{task.slot}" if task.slot else f"{task.service_id}/@{task.node_id}"]


@dataclass(frozen=True)
class Kind:
    """One kind of object: its etcd path segment, message class and indexes."""

    name: str
    message: type[Message]
    unique_names: bool
    name_of: Callable[[Any], str]
    # index name -> function returning the index values of an object
    indexes: dict[str, Callable[[Any], Iterable[str]]] = field(default_factory=dict)

    def parse(self, data: bytes) -> Message:
        """Return the object serialised in DATA."""
        obj = self.message()
        obj.ParseFromString(data)
        return obj


def _kind(name: str, message: type[Message], unique: bool, name_of: Callable[[Any], str],
          **indexes: Callable[[Any], Iterable[str]]) -> Kind:  # fmt: skip
    return Kind(name, message, unique, name_of, {"name": lambda o: _one(name_of(o)), **indexes})


KINDS: tuple[Kind, ...] = (
    _kind("nodes", objects_pb2.Node, False, _node_name),
    _kind("services", objects_pb2.Service, True, _spec_name),
    _kind(
        "tasks",
        objects_pb2.Task,
        False,
        _task_name,
        service=lambda t: _one(t.service_id),
        node=lambda t: _one(t.node_id),
        slot=_task_slot,
    ),
    _kind("networks", objects_pb2.Network, True, _spec_name),
    _kind("secrets", objects_pb2.Secret, True, _spec_name),
    _kind("configs", objects_pb2.Config, True, _spec_name),
    _kind("clusters", objects_pb2.Cluster, True, _spec_name),
)
_BY_NAME = {k.name: k for k in KINDS}
_BY_MESSAGE = {k.message: k for k in KINDS}

KindRef = type[Message] | Message | str | Kind


def kind_of(ref: KindRef) -> Kind:
    """Return the Kind of a message class, a message, a kind name or a Kind."""
    if isinstance(ref, Kind):
        return ref
    if isinstance(ref, str):
        kind = _BY_NAME.get(ref)
    elif isinstance(ref, Message):
        kind = _BY_MESSAGE.get(type(ref))
    else:
        kind = _BY_MESSAGE.get(ref)
    if kind is None:
        raise InvalidObject(f"not a stored kind: {ref!r}")
    return kind


@dataclass(frozen=True)
class Keyspace:
    """Builds and parses the etcd keys under ROOT."""

    root: str = "/shoal"

    def __post_init__(self) -> None:
        if not self.root.startswith("/") or self.root.endswith("/"):
            raise ValueError(f"keyspace root must start and not end with '/': {self.root!r}")

    @property
    def objects(self) -> bytes:
        """Return the prefix of every object key (what caches watch)."""
        return f"{self.root}/v1/".encode()

    def key(self, kind: Kind, obj_id: str) -> bytes:
        return f"{self.root}/v1/{kind.name}/{obj_id}".encode()

    def name_key(self, kind: Kind, name: str) -> bytes:
        return f"{self.root}/names/{kind.name}/{name}".encode()

    @property
    def leader(self) -> bytes:
        return f"{self.root}/leader".encode()

    def parse(self, key: bytes) -> tuple[Kind, str] | None:
        """Return (kind, id) of an object key, None for keys of no known kind."""
        if not key.startswith(self.objects):
            return None
        kind_name, sep, obj_id = key[len(self.objects) :].decode(errors="replace").partition("/")
        kind = _BY_NAME.get(kind_name)
        if kind is None or not sep or not obj_id or "/" in obj_id:
            return None
        return kind, obj_id


def prefix_end(prefix: bytes) -> bytes:
    """Return the range end covering every key that starts with PREFIX."""
    end = bytearray(prefix)
    for i in reversed(range(len(end))):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"
