"""What every part of the Control API logic shares: the store, reads and version checks."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.message import Message

from shoal.manager.controlapi.errors import InvalidArgument
from shoal.manager.store import NotFound, Store, StoreUnavailable, VersionConflict, kind_of

M = TypeVar("M", bound=Message)

# How long a request carrying a version newer than this manager's cache waits
# for the cache to catch up (the client read from a faster manager).
CATCH_UP_TIMEOUT = 2.0


def kind_name(kind: type[Message]) -> str:
    """Return "service" for Service, "node" for Node..."""
    return kind_of(kind).name.rstrip("s")


class Base:
    """The store and the helpers of the Control API's parts."""

    def __init__(self, store: Store, cluster_id: str) -> None:
        self.store = store
        self.cluster_id = cluster_id

    def _get(self, kind: type[M], obj_id: str) -> M:
        """Return a copy of the object from the cache; NotFound if absent."""
        if not obj_id:
            raise InvalidArgument(f"{kind_name(kind)} id must be provided")
        obj = self.store.get(kind, obj_id)
        if obj is None:
            raise NotFound(kind_of(kind).name, obj_id)
        return obj

    def _list(self, kind: type[M], where: Callable[[Any], bool]) -> builtins.list[M]:
        return self.store.list(kind, where)

    async def _at_version(self, kind: type[M], obj_id: str, version: int) -> M:
        """Return a copy of the object as it is at VERSION, the base of an update.

        VersionConflict ("update out of sequence") if the object changed since
        the caller read it; waits a little if the caller saw a newer version
        than this manager's cache holds, so that the update never rests on
        stale fields.
        """
        if not version:
            raise InvalidArgument(f"{kind_name(kind)} version must be provided")
        obj: Any = self._get(kind, obj_id)
        if obj.meta.version.index < version:
            try:
                await self.store.wait_for(version, CATCH_UP_TIMEOUT)
            except StoreUnavailable:
                pass
            obj = self._get(kind, obj_id)
        actual = int(obj.meta.version.index)
        if actual != version:
            raise VersionConflict(kind_of(kind).name, obj_id, version, actual)
        return obj

    async def _settle(self, revision: int) -> None:
        """Wait until this manager's cache shows a write, so reads that follow see it."""
        try:
            await self.store.wait_for(revision)
        except StoreUnavailable:
            pass  # the write happened; only the read-your-writes guarantee is lost
