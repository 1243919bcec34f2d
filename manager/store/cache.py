"""The in-memory view of every stored object, with indexes and subscriptions.

The cache holds one protobuf snapshot per object and replaces it on every
change, never editing it in place; its `revision` is the etcd revision the
view reflects. It is fed by the Informer (informer.py: list at a revision,
then watch from the next one) and read by everything else: the control API,
orchestrators, scheduler and dispatcher never read etcd one object at a time.

Reads return copies by default. `copy=False` returns the shared snapshots,
which is faster for big scans and safe as long as the caller does not modify
them. Each change is applied synchronously (no await inside), so a read
followed by `subscribe()` in the same step misses nothing and sees nothing
twice (`view_and_subscribe` does exactly that).
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from google.protobuf.message import Message

from shoal.manager.store.errors import StoreUnavailable
from shoal.manager.store.events import Action, Event, Subscription
from shoal.manager.store.kinds import KINDS, Kind, KindRef, kind_of

M = TypeVar("M", bound=Message)


def _version(obj: Any) -> int:
    return int(obj.meta.version.index)


class WatchCache:
    """Objects by kind and id, secondary indexes, change subscriptions."""

    def __init__(self) -> None:
        self.revision = 0
        self._objects: dict[str, dict[str, Message]] = {k.name: {} for k in KINDS}
        # kind -> index name -> index value -> ids (dicts keep insertion order)
        self._indexes: dict[str, dict[str, dict[str, dict[str, None]]]] = {
            k.name: {ix: {} for ix in k.indexes} for k in KINDS
        }
        self._subscriptions: builtins.list[Subscription] = []
        self._waiters: builtins.list[tuple[int, asyncio.Future[None]]] = []

    # Reads.

    def get(self, kind: type[M], obj_id: str, *, copy: bool = True) -> M | None:
        """Return the object of KIND with OBJ_ID, or None."""
        obj = self._objects[kind_of(kind).name].get(obj_id)
        if obj is None:
            return None
        return cast(M, _copy(obj) if copy else obj)

    def list(
        self, kind: type[M], where: Callable[[M], bool] | None = None, *, copy: bool = True
    ) -> builtins.list[M]:
        """Return the objects of KIND (those for which WHERE is true)."""
        objs = cast(Iterable[M], self._objects[kind_of(kind).name].values())
        return [_copy(o) if copy else o for o in objs if where is None or where(o)]

    def count(self, kind: KindRef) -> int:
        return len(self._objects[kind_of(kind).name])

    def by_index(
        self, kind: type[M], index: str, value: str, *, copy: bool = True
    ) -> builtins.list[M]:
        """Return the objects of KIND whose INDEX has VALUE (e.g. tasks by "node")."""
        k = kind_of(kind)
        try:
            ids = self._indexes[k.name][index].get(value, {})
        except KeyError:
            raise ValueError(f"{k.name} has no index {index!r}") from None
        objs = self._objects[k.name]
        return [cast(M, _copy(objs[i]) if copy else objs[i]) for i in ids]

    def by_name(self, kind: type[M], name: str, *, copy: bool = True) -> M | None:
        """Return the object of KIND named NAME (the first one for non-unique kinds)."""
        found = self.by_index(kind, "name", name, copy=copy)
        return found[0] if found else None

    def tasks_by_service(self, service_id: str, *, copy: bool = True) -> builtins.list[Any]:
        from shoal.proto.shoal.v1.objects_pb2 import Task

        return self.by_index(Task, "service", service_id, copy=copy)

    def tasks_by_node(self, node_id: str, *, copy: bool = True) -> builtins.list[Any]:
        from shoal.proto.shoal.v1.objects_pb2 import Task

        return self.by_index(Task, "node", node_id, copy=copy)

    # Subscriptions.

    def subscribe(
        self, *kinds: KindRef, where: Callable[[Event], bool] | None = None
    ) -> Subscription:
        """Return a subscription to changes of KINDS (all kinds if none given)."""
        sub = Subscription([kind_of(k).name for k in kinds], where, self._subscriptions.remove)
        self._subscriptions.append(sub)
        return sub

    def view_and_subscribe(
        self, kind: type[M], where: Callable[[Event], bool] | None = None
    ) -> tuple[builtins.list[M], Subscription]:
        """Return the current objects of KIND and a subscription to what changes next."""
        return self.list(kind), self.subscribe(kind, where=where)

    async def wait_for(self, revision: int, timeout: float | None = 10.0) -> None:
        """Wait until the cache reflects REVISION (a write's revision under /v1/).

        Raises StoreUnavailable after TIMEOUT seconds.
        """
        if self.revision >= revision:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (revision, fut)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise StoreUnavailable(
                f"cache at revision {self.revision} did not reach {revision} in {timeout}s"
            ) from None
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    # Changes (called by the Informer).

    def put(self, kind: Kind, obj: Message, revision: int) -> Event:
        """Store OBJ (its meta.version set), update indexes, notify; return the event."""
        objs = self._objects[kind.name]
        obj_id = str(getattr(obj, "id"))  # noqa: B009 - Message has no typed `id`
        old = objs.get(obj_id)
        if old is not None:
            self._unindex(kind, obj_id, old)
        objs[obj_id] = obj
        self._index(kind, obj_id, obj)
        action = Action.CREATE if old is None else Action.UPDATE
        event = Event(action, kind.name, obj, old, revision)
        self._publish(event)
        return event

    def delete(self, kind: Kind, obj_id: str, revision: int) -> Event | None:
        """Forget the object; return the DELETE event, or None if it was unknown."""
        old = self._objects[kind.name].pop(obj_id, None)
        if old is None:
            return None
        self._unindex(kind, obj_id, old)
        event = Event(Action.DELETE, kind.name, old, old, revision)
        self._publish(event)
        return event

    def replace_all(self, snapshot: dict[str, dict[str, Message]], revision: int) -> int:
        """Make the cache equal SNAPSHOT (a full list at REVISION), emitting the difference.

        Returns the number of events emitted.
        """
        emitted = 0
        for kind in KINDS:
            current = self._objects[kind.name]
            fresh = snapshot.get(kind.name, {})
            for obj_id in [i for i in current if i not in fresh]:
                emitted += self.delete(kind, obj_id, revision) is not None
            for obj_id, obj in fresh.items():
                old = current.get(obj_id)
                if old is None or _version(old) != _version(obj):
                    self.put(kind, obj, revision)
                    emitted += 1
        self.advance(revision)
        return emitted

    def advance(self, revision: int) -> None:
        """Record that every change up to REVISION is applied; wake waiters."""
        if revision <= self.revision:
            return
        self.revision = revision
        if not self._waiters:
            return
        keep = []
        for rev, fut in self._waiters:
            if rev <= revision:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((rev, fut))
        self._waiters = keep

    def close_subscriptions(self) -> None:
        for sub in list(self._subscriptions):
            sub.close()

    def _publish(self, event: Event) -> None:
        for sub in self._subscriptions:
            sub.publish(event)

    def _index(self, kind: Kind, obj_id: str, obj: Message) -> None:
        indexes = self._indexes[kind.name]
        for name, values_of in kind.indexes.items():
            for value in values_of(obj):
                indexes[name].setdefault(value, {})[obj_id] = None

    def _unindex(self, kind: Kind, obj_id: str, obj: Message) -> None:
        indexes = self._indexes[kind.name]
        for name, values_of in kind.indexes.items():
            for value in values_of(obj):
                ids = indexes[name].get(value)
                if ids is not None:
                    ids.pop(obj_id, None)
                    if not ids:
                        del indexes[name][value]


def _copy(obj: M) -> M:
    dup = type(obj)()
    dup.CopyFrom(obj)
    return dup
