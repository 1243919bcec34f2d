"""The fields every stored object shares: Version{Index}, CreatedAt, UpdatedAt."""

from __future__ import annotations

from typing import Any

from shoal.engine.errors import InvalidArgument
from shoal.manager.dockerapi.fields import ZERO_TIME, Obj, format_time
from shoal.proto.shoal.v1 import types_pb2


def meta_to_json(meta: types_pb2.Meta) -> dict[str, Any]:
    """Return Docker's Version, CreatedAt and UpdatedAt for META."""
    return {"Version": {"Index": meta.version.index},
            "CreatedAt": format_time(meta.created_at),
            "UpdatedAt": format_time(meta.updated_at)}


def meta_from_json(o: Obj) -> types_pb2.Meta:
    """Return the Meta held by the Version, CreatedAt and UpdatedAt of O."""
    meta = types_pb2.Meta()
    version = o.obj("Version")
    if version is not None:
        meta.version.index = version.uint("Index") or 0
    for key, field in (("CreatedAt", "created_at"), ("UpdatedAt", "updated_at")):
        ts = o.time(key)
        if ts is not None and o.text(key) != ZERO_TIME:
            getattr(meta, field).CopyFrom(ts)
    return meta


def version_from_query(raw: str | None, kind: str) -> types_pb2.Version:
    """Return the Version of a `?version=N` query (dockerd's message when it is bad)."""
    try:
        index = int(raw or "")
        if index < 0:
            raise ValueError(raw)
    except ValueError:
        raise InvalidArgument(f"invalid {kind} version '{raw or ''}': "
                              "a version number is required (?version=N)") from None
    return types_pb2.Version(index=index)
