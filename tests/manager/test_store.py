"""Store writes against a real etcd: CRUD, optimistic concurrency, names, batches."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from shoal.manager.etcd import EtcdConfig, EtcdProcess, connect
from shoal.manager.store import (
    AlreadyExists,
    Create,
    Delete,
    InvalidObject,
    NotFound,
    Store,
    StoreConfig,
    Update,
    VersionConflict,
)
from shoal.proto.shoal.v1 import objects_pb2, types_pb2
from shoal.proto.shoal.v1.objects_pb2 import Service, Task


def service(name: str, replicas: int = 1) -> Service:
    svc = Service()
    svc.spec.annotations.name = name
    svc.spec.replicated.replicas = replicas
    svc.spec.task.container.image = "busybox"
    return svc


def task(service_id: str, slot: int, payload: int = 0) -> Task:
    t = Task(service_id=service_id, slot=slot, desired_state=types_pb2.RUNNING)
    t.spec.container.image = "busybox"
    t.spec.container.env.append("PAD=" + "x" * payload)
    t.status.state = types_pb2.NEW
    return t


async def test_create_get_update_delete(store: Store) -> None:
    svc = await store.create(service("web"))
    assert len(svc.id) == 25
    assert svc.meta.version.index > 0
    assert svc.meta.created_at.seconds > 0
    await store.wait_for(svc.meta.version.index)
    got = store.get(Service, svc.id)
    assert got == svc

    got.spec.replicated.replicas = 3
    first = got.meta.version.index
    updated = await store.update(got)
    assert updated.meta.version.index > first
    await store.wait_for(updated.meta.version.index)
    assert store.get(Service, svc.id).spec.replicated.replicas == 3
    assert store.cache.by_name(Service, "web").id == svc.id

    await store.wait_for(await store.delete(Service, svc.id))
    assert store.get(Service, svc.id) is None
    assert store.cache.by_name(Service, "web") is None
    with pytest.raises(NotFound):
        await store.delete(Service, svc.id)


async def test_get_returns_copies(store: Store) -> None:
    svc = await store.create(service("copy"))
    await store.wait_for(svc.meta.version.index)
    store.get(Service, svc.id).spec.annotations.name = "changed"
    assert store.get(Service, svc.id).spec.annotations.name == "copy"
    assert store.get(Service, svc.id, copy=False) is store.get(Service, svc.id, copy=False)


async def test_stale_update_raises_version_conflict(store: Store) -> None:
    svc = await store.create(service("api"))
    stale = Service()
    stale.CopyFrom(svc)
    svc.spec.replicated.replicas = 2
    await store.update(svc)
    stale.spec.replicated.replicas = 5
    with pytest.raises(VersionConflict) as exc:
        await store.update(stale)
    assert exc.value.expected == stale.meta.version.index
    assert exc.value.actual == svc.meta.version.index
    with pytest.raises(VersionConflict):
        await store.delete(Service, svc.id, version=stale.meta.version.index)
    await store.delete(Service, svc.id, version=svc.meta.version.index)
    with pytest.raises(NotFound):
        await store.update(svc)


async def test_unique_names(store: Store) -> None:
    first = await store.create(service("db"))
    with pytest.raises(AlreadyExists) as exc:
        await store.create(service("db"))
    assert exc.value.existing_id == first.id
    dup = service("other")
    dup.id = first.id
    with pytest.raises(AlreadyExists):
        await store.create(dup)
    with pytest.raises(InvalidObject):
        await store.create(service(""))
    # the name is released with the object
    rev = await store.delete(Service, first.id)
    await store.wait_for(rev)
    again = await store.create(service("db"))
    assert again.id != first.id
    # tasks have no unique names
    await store.create(task(again.id, 1))
    await store.create(task(again.id, 1))


async def test_renaming_is_refused(store: Store) -> None:
    svc = await store.create(service("old"))
    await store.wait_for(svc.meta.version.index)
    svc.spec.annotations.name = "new"
    with pytest.raises(InvalidObject):
        await store.update(svc)


async def test_mutate_retries_conflicts(client, root: str) -> None:
    config = StoreConfig(root=root)
    async with Store(client, config) as a, Store(client, config) as b:
        svc = await a.create(service("counter", replicas=0))
        await a.wait_for(svc.meta.version.index)
        await b.wait_for(svc.meta.version.index)

        def bump(s: Service) -> None:
            s.spec.replicated.replicas += 1

        await asyncio.gather(*(st.mutate(Service, svc.id, bump) for st in (a, b) for _ in range(5)))
        last = await a.mutate(Service, svc.id, bump)
        await b.wait_for(last.meta.version.index)
        assert b.get(Service, svc.id).spec.replicated.replicas == 11
        assert await b.mutate(Service, svc.id, lambda s: False) == last


async def test_batch_of_1000_tasks_is_split(store: Store) -> None:
    svc = await store.create(service("big"))
    tasks = [task(svc.id, slot) for slot in range(1, 1001)]
    result = await store.batch([Create(t) for t in tasks])
    assert result.errors == {}
    assert result.written == 1000
    assert result.transactions == 8  # 128 puts per transaction
    await store.wait_for(result.revision)
    assert len(store.cache.tasks_by_service(svc.id)) == 1000
    assert all(t.meta.version.index > 0 for t in tasks)

    # large objects split by bytes: 1000 x ~4 KiB does not fit 1.5 MiB
    big = [task(svc.id, slot, payload=4000) for slot in range(1, 1001)]
    result = await store.batch([Create(t) for t in big])
    assert result.written == 1000 and not result.errors
    assert result.transactions >= 3

    # one update, one delete per task in a single batch
    for t in tasks:
        t.desired_state = types_pb2.SHUTDOWN
    result = await store.batch([Update(t) for t in tasks] + [Delete(Task, t.id) for t in big])
    assert result.written == 2000 and not result.errors
    await store.wait_for(result.revision)
    assert {t.desired_state for t in store.cache.tasks_by_service(svc.id)} == {types_pb2.SHUTDOWN}


async def test_batch_reports_failed_ops_and_writes_the_rest(store: Store) -> None:
    svc = await store.create(service("mixed"))
    existing = await store.create(task(svc.id, 1))
    stale = Task()
    stale.CopyFrom(existing)
    existing.slot = 9
    await store.update(existing)
    ops = [
        Create(task(svc.id, 2)),
        Update(stale),  # stale version
        Create(service("mixed")),  # name taken
        Delete(Task, "nosuchtask"),
        Create(task(svc.id, 3)),
    ]
    result = await store.batch(ops)
    assert sorted(result.errors) == [1, 2, 3]
    assert isinstance(result.errors[1], VersionConflict)
    assert isinstance(result.errors[2], AlreadyExists)
    assert isinstance(result.errors[3], NotFound)
    assert result.written == 2
    await store.wait_for(result.revision)
    assert sorted(t.slot for t in store.cache.tasks_by_service(svc.id)) == [2, 3, 9]


async def test_atomic_batch_writes_nothing_on_failure(store: Store) -> None:
    svc = await store.create(service("atomic"))
    ops = [Create(task(svc.id, 1)), Create(service("atomic"))]
    with pytest.raises(AlreadyExists):
        await store.batch(ops, atomic=True)
    rev = (await store.batch([Create(task(svc.id, 7))])).revision
    await store.wait_for(rev)
    assert [t.slot for t in store.cache.tasks_by_service(svc.id)] == [7]


async def test_object_too_large_for_one_request(store: Store) -> None:
    svc = await store.create(service("huge"))
    with pytest.raises(InvalidObject):
        await store.create(task(svc.id, 1, payload=2 * 1024 * 1024))


async def test_batch_respects_smaller_etcd_limits(tmp_path) -> None:
    """etcd itself enforces the limits here: a wrong split would be refused."""
    cfg = EtcdConfig(data_dir=tmp_path / "etcd", max_txn_ops=16, max_request_bytes=64 * 1024)
    try:
        async with EtcdProcess(cfg) as etcd, connect([etcd.endpoint]) as c:
            config = StoreConfig(max_txn_ops=16, max_request_bytes=64 * 1024)
            async with Store(c, config) as st:
                svc = await st.create(service("limits"))
                tasks = [task(svc.id, s, payload=1500) for s in range(1, 301)]
                result = await st.batch([Create(t) for t in tasks])
                assert result.written == 300 and not result.errors
                assert result.transactions >= 300 // 16
            # a store that assumes etcd's defaults sends transactions etcd refuses
            wrong = Store(c, StoreConfig(root="/wrong"))
            with pytest.raises(InvalidObject):
                await wrong.batch([Create(task(svc.id, s)) for s in range(1, 40)])
    finally:
        shutil.rmtree(tmp_path / "etcd", ignore_errors=True)


async def test_objects_of_every_kind_round_trip(store: Store) -> None:
    objs = [
        objects_pb2.Node(),
        objects_pb2.Network(),
        objects_pb2.Secret(),
        objects_pb2.Config(),
        objects_pb2.Cluster(),
    ]
    for i, o in enumerate(objs):
        o.spec.annotations.name = f"obj{i}"
    result = await store.batch([Create(o) for o in objs])
    assert not result.errors
    await store.wait_for(result.revision)
    for o in objs:
        assert store.get(type(o), o.id) == o
