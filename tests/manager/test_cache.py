"""The watch cache: indexes and events in memory, then convergence with a real etcd."""

from __future__ import annotations

import pytest

from shoal.manager.etcd import EtcdProcess, connect
from shoal.manager.store import (
    Action,
    Create,
    Delete,
    Store,
    StoreConfig,
    StoreUnavailable,
    Update,
    WatchCache,
    kind_of,
)
from shoal.manager.store.txn import serialize
from shoal.proto.shoal.v1 import types_pb2
from shoal.proto.shoal.v1.objects_pb2 import Node, Service, Task
from tests.manager.conftest import eventually
from tests.manager.proxy import Proxy
from tests.manager.test_store import service, task

TASKS = kind_of(Task)


def _task(tid: str, service_id: str, node_id: str, version: int) -> Task:
    t = Task(id=tid, service_id=service_id, node_id=node_id, slot=1)
    t.meta.version.index = version
    return t


async def test_indexes_follow_changes() -> None:
    cache = WatchCache()
    cache.put(TASKS, _task("t1", "s1", "n1", 2), 2)
    cache.put(TASKS, _task("t2", "s1", "", 3), 3)
    assert [t.id for t in cache.tasks_by_service("s1")] == ["t1", "t2"]
    assert [t.id for t in cache.tasks_by_node("n1")] == ["t1"]
    assert [t.id for t in cache.by_index(Task, "slot", "s1/1")] == ["t1", "t2"]
    cache.put(TASKS, _task("t2", "s1", "n2", 4), 4)  # scheduled
    cache.put(TASKS, _task("t1", "s9", "n2", 5), 5)
    assert [t.id for t in cache.tasks_by_service("s1")] == ["t2"]
    assert sorted(t.id for t in cache.tasks_by_node("n2")) == ["t1", "t2"]
    assert cache.tasks_by_node("n1") == []
    cache.delete(TASKS, "t2", 6)
    assert [t.id for t in cache.tasks_by_node("n2")] == ["t1"]
    assert cache.count(Task) == 1


async def test_subscriptions_and_relist_diff() -> None:
    cache = WatchCache()
    cache.put(TASKS, _task("keep", "s", "n", 2), 2)
    cache.put(TASKS, _task("gone", "s", "n", 3), 3)
    cache.put(TASKS, _task("same", "s", "n", 4), 4)
    view, sub = cache.view_and_subscribe(Task)
    only_nodes = cache.subscribe(Node)
    assert len(view) == 3
    snapshot = {
        "tasks": {
            "keep": _task("keep", "s", "n2", 7),
            "same": _task("same", "s", "n", 4),
            "new": _task("new", "s", "n", 8),
        }
    }
    assert cache.replace_all(snapshot, 9) == 3
    assert cache.revision == 9
    events = [sub.get_nowait() for _ in range(3)]
    assert [(e.action, e.obj_id) for e in events] == [
        (Action.DELETE, "gone"),
        (Action.UPDATE, "keep"),
        (Action.CREATE, "new"),
    ]
    assert events[1].old.node_id == "n" and events[1].obj.node_id == "n2"
    assert sub.get_nowait() is None and only_nodes.get_nowait() is None
    sub.close()
    assert await sub.get() is None
    cache.put(TASKS, _task("later", "s", "n", 10), 10)
    assert sub.pending() == 0


async def test_wait_for_times_out_as_unavailable() -> None:
    cache = WatchCache()
    cache.advance(5)
    await cache.wait_for(5)
    with pytest.raises(StoreUnavailable):
        await cache.wait_for(6, timeout=0.05)


async def test_cache_converges_after_external_writes(client, root: str) -> None:
    config = StoreConfig(root=root)
    async with Store(client, config) as reader, Store(client, config) as writer:
        sub = reader.subscribe(Task)
        svc = await writer.create(service("ext"))
        tasks = [task(svc.id, s) for s in range(1, 21)]
        await writer.batch([Create(t) for t in tasks])
        # a write that does not come through a Store at all
        raw = tasks[0]
        raw.node_id = "node-a"
        await client.put(reader.keys.key(TASKS, raw.id), serialize(raw))
        rev = (await writer.batch([Delete(Task, t.id) for t in tasks[10:]])).revision
        await reader.wait_for(rev)
        assert len(reader.cache.tasks_by_service(svc.id)) == 10
        assert [t.id for t in reader.cache.tasks_by_node("node-a")] == [raw.id]
        assert reader.get(Service, svc.id) == svc
        seen = []
        while (e := sub.get_nowait()) is not None:
            seen.append(e.action)
        assert seen == [Action.CREATE] * 20 + [Action.UPDATE] + [Action.DELETE] * 10
        assert reader.cache.revision >= rev


async def test_initial_list_is_paginated(client, root: str) -> None:
    async with Store(client, StoreConfig(root=root)) as writer:
        svc = await writer.create(service("pages"))
        await writer.batch([Create(task(svc.id, s)) for s in range(1, 51)])
    async with Store(client, StoreConfig(root=root, list_page_size=7)) as reader:
        assert len(reader.cache.tasks_by_service(svc.id)) == 50
        assert reader.get(Service, svc.id) is not None


async def test_cache_resumes_after_connection_loss(etcd_server: EtcdProcess, root: str) -> None:
    proxy = Proxy(etcd_server.config.host, etcd_server.config.client_port)
    await proxy.start()
    try:
        async with (
            connect([proxy.endpoint], timeout=2) as cut_client,
            connect([etcd_server.endpoint]) as direct,
        ):
            config = StoreConfig(root=root, request_timeout=2)
            async with Store(cut_client, config) as reader, Store(direct, config) as writer:
                svc = await writer.create(service("resume"))
                await reader.wait_for(svc.meta.version.index)
                proxy.cut()
                await eventually(lambda: not reader.informer.synced.is_set())
                rev = (await writer.batch([Create(task(svc.id, s)) for s in range(1, 6)])).revision
                proxy.restore()
                await reader.wait_for(rev, timeout=15)
                assert len(reader.cache.tasks_by_service(svc.id)) == 5
                assert reader.informer.relists == 1  # resumed the watch, no relist
    finally:
        await proxy.stop()


async def test_cache_relists_after_compaction(own_etcd: EtcdProcess) -> None:
    proxy = Proxy(own_etcd.config.host, own_etcd.config.client_port)
    await proxy.start()
    try:
        async with (
            connect([proxy.endpoint], timeout=2) as cut_client,
            connect([own_etcd.endpoint]) as direct,
        ):
            config = StoreConfig(request_timeout=2)
            async with Store(cut_client, config) as reader, Store(direct, config) as writer:
                svc = await writer.create(service("compact"))
                old = [task(svc.id, s) for s in range(1, 11)]
                await writer.batch([Create(t) for t in old])
                await reader.wait_for(old[-1].meta.version.index)
                sub = reader.subscribe(Task)

                proxy.cut()
                await eventually(lambda: not reader.informer.synced.is_set())
                await writer.batch([Delete(Task, t.id) for t in old[:4]])
                for t in old[4:6]:
                    t.desired_state = types_pb2.SHUTDOWN
                await writer.batch([Update(t) for t in old[4:6]])
                new = [task(svc.id, s) for s in range(20, 23)]
                rev = (await writer.batch([Create(t) for t in new])).revision
                await direct.compact(rev)
                proxy.restore()

                await reader.wait_for(rev, timeout=15)
                assert reader.informer.relists == 2
                mine = {t.id: t for t in reader.cache.tasks_by_service(svc.id)}
                assert set(mine) == {t.id for t in old[4:] + new}
                assert mine[old[4].id].desired_state == types_pb2.SHUTDOWN
                actions = []
                while (e := sub.get_nowait()) is not None:
                    actions.append(e.action)
                assert sorted(a.value for a in actions) == sorted(
                    ["delete"] * 4 + ["update"] * 2 + ["create"] * 3
                )
    finally:
        await proxy.stop()
