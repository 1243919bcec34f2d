"""A ControlService over a real etcd store, with the cluster object created."""

from __future__ import annotations

import pytest

from shoal.manager.ca import ensure_cluster
from shoal.manager.controlapi import ControlService
from shoal.manager.store import Store
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2, types_pb2


@pytest.fixture
async def control(store: Store) -> ControlService:
    cluster = await ensure_cluster(store, etcd_endpoints=["http://127.0.0.1:2379"])
    assert list(cluster.etcd_endpoints) == ["http://127.0.0.1:2379"]
    return ControlService(store, cluster.id)


def service_spec(name: str = "web", image: str = "busybox", replicas: int | None = 1):
    """Return a minimal valid spec (no mode at all when REPLICAS is None)."""
    spec = specs_pb2.ServiceSpec()
    spec.annotations.name = name
    spec.task.container.image = image
    if replicas is not None:
        spec.replicated.replicas = replicas
    return spec


def port(published: int, target: int = 80, host: bool = False, udp: bool = False):
    return types_pb2.PortConfig(
        published_port=published,
        target_port=target,
        publish_mode=types_pb2.PortConfig.HOST if host else types_pb2.PortConfig.INGRESS,
        protocol=types_pb2.PortConfig.UDP if udp else types_pb2.PortConfig.TCP,
    )


async def add_node(
    store: Store,
    hostname: str,
    role=types_pb2.WORKER,
    state=objects_pb2.NodeStatus.READY,
    **labels: str,
) -> objects_pb2.Node:
    node = objects_pb2.Node(role=role)
    node.spec.desired_role = role
    node.spec.annotations.labels.update(labels)
    node.description.hostname = hostname
    node.status.state = state
    created = await store.create(node)
    await store.wait_for(created.meta.version.index)
    return created


async def add_task(
    store: Store,
    service: objects_pb2.Service,
    slot: int,
    node_id: str = "",
    desired=types_pb2.RUNNING,
    state=types_pb2.RUNNING,
) -> objects_pb2.Task:
    t = objects_pb2.Task(service_id=service.id, slot=slot, node_id=node_id, desired_state=desired)
    t.spec.CopyFrom(service.spec.task)
    t.service_annotations.CopyFrom(service.spec.annotations)
    t.status.state = state
    created = await store.create(t)
    created.annotations.name = f"{service.spec.annotations.name}.{slot}.{created.id}"
    created = await store.update(created)
    await store.wait_for(created.meta.version.index)
    return created
