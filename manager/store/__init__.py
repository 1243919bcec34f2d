"""Cluster state in etcd: objects, optimistic batched writes, and the watch cache.

    store = Store(connect(endpoints), StoreConfig(root="/shoal"))
    await store.start()                     # list + watch into store.cache
    svc = await store.create(Service(spec=...))
    await store.update(svc)                 # VersionConflict if svc is stale
    result = await store.batch([Create(t) for t in tasks])
    tasks = store.cache.tasks_by_service(svc.id)
    with store.subscribe(Task) as sub:
        async for event in sub: ...

See docs/store.md for the key layout, concurrency rules and the cache.
"""

from shoal.manager.store.cache import WatchCache
from shoal.manager.store.errors import (
    AlreadyExists,
    InvalidObject,
    NotFound,
    StoreError,
    StoreUnavailable,
    VersionConflict,
)
from shoal.manager.store.events import Action, Event, Subscription
from shoal.manager.store.informer import Informer
from shoal.manager.store.kinds import KINDS, Keyspace, Kind, kind_of, new_id
from shoal.manager.store.store import BatchResult, Store, StoreConfig
from shoal.manager.store.txn import Create, Delete, Op, Update

__all__ = [
    "KINDS",
    "Action",
    "AlreadyExists",
    "BatchResult",
    "Create",
    "Delete",
    "Event",
    "Informer",
    "InvalidObject",
    "Keyspace",
    "Kind",
    "NotFound",
    "Op",
    "Store",
    "StoreConfig",
    "StoreError",
    "StoreUnavailable",
    "Subscription",
    "Update",
    "VersionConflict",
    "WatchCache",
    "kind_of",
    "new_id",
]
