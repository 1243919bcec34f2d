"""Joining over real gRPC: the digest check, tokens, roles, renewal, the Node object."""

from __future__ import annotations

import re

import pytest

from shoal.manager.ca import (
    CADigestMismatch,
    InvalidJoinToken,
    JoinError,
    RootCA,
    ensure_cluster,
    generate_join_token,
    join,
    renew,
)
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2, types_pb2
from tests.manager.ca.conftest import Manager


async def test_init_creates_the_cluster_once_and_the_first_manager(manager: Manager) -> None:
    cluster = manager.cluster
    assert cluster.spec.annotations.name == "default"
    assert cluster.spec.orchestration.task_history_retention_limit == 5
    assert cluster.spec.dispatcher.heartbeat_period.seconds == 5
    assert cluster.spec.ca_config.node_cert_expiry.seconds == 90 * 86400
    assert cluster.root_ca.ca_cert_hash == RootCA(bytes(cluster.root_ca.ca_cert)).digest
    assert (await ensure_cluster(manager.store, etcd_endpoints=["x"])).id == cluster.id
    assert list(cluster.etcd_endpoints) == []
    node = manager.store.get(objects_pb2.Node, manager.creds.node_id)
    assert node.role == types_pb2.MANAGER and node.spec.desired_role == types_pb2.MANAGER
    assert node.status.addr == "127.0.0.1"
    assert manager.creds.cluster_id == cluster.id


async def test_worker_and_manager_join(manager: Manager, tmp_path) -> None:
    worker = await join(
        manager.addr,
        manager.worker_token,
        ca_addr=manager.ca_addr,
        availability="drain",
        advertise_addr="10.1.2.3:4242",
    )
    assert worker.role == types_pb2.WORKER
    assert worker.cluster_id == manager.cluster.id
    assert worker.ca_pem == bytes(manager.cluster.root_ca.ca_cert)
    node = manager.store.get(objects_pb2.Node, worker.node_id)
    assert node.role == types_pb2.WORKER
    assert node.spec.availability == specs_pb2.NodeSpec.DRAIN
    assert node.status.state == objects_pb2.NodeStatus.UNKNOWN
    assert node.status.addr == "10.1.2.3"

    mgr = await join(manager.addr, manager.manager_token, ca_addr=manager.ca_addr)
    assert mgr.role == types_pb2.MANAGER and mgr.node_id != worker.node_id
    worker.save(tmp_path)


async def test_wrong_ca_digest_is_refused_before_sending_the_token(manager: Manager) -> None:
    other = RootCA.create()
    token = generate_join_token(other.digest)
    with pytest.raises(
        CADigestMismatch,
        match=re.escape("the CA digest in the join token does not match the root CA"),
    ) as err:
        await join(manager.addr, token, ca_addr=manager.ca_addr)
    assert other.digest in str(err.value)
    assert manager.cluster.root_ca.ca_cert_hash in str(err.value)


async def test_wrong_secret_and_malformed_tokens(manager: Manager) -> None:
    forged = generate_join_token(manager.cluster.root_ca.ca_cert_hash)
    with pytest.raises(JoinError, match="A valid join token is necessary to join this cluster"):
        await join(manager.addr, forged, ca_addr=manager.ca_addr)
    with pytest.raises(InvalidJoinToken, match="must start with SWMTKN-"):
        await join(manager.addr, "nope", ca_addr=manager.ca_addr)
    with pytest.raises(JoinError, match="invalid availability 'sometimes'"):
        await join(
            manager.addr, manager.worker_token, ca_addr=manager.ca_addr, availability="sometimes"
        )
    with pytest.raises(JoinError, match="invalid manager address ':4242'"):
        await join(":4242", manager.worker_token)
    with pytest.raises(JoinError, match="cannot reach the manager's CA"):
        await join("127.0.0.1:1", manager.worker_token, ca_addr="127.0.0.1:1", timeout=2)


async def test_default_ca_address_is_main_port_plus_one(manager: Manager) -> None:
    # The fixture's CA port is random: the default only says where it would be.
    from shoal.manager.ca import ca_address

    assert ca_address("10.0.0.1:4242") == "10.0.0.1:4243"
    assert ca_address("[fd00::1]:4242") == "[fd00::1]:4243"
    assert ca_address("10.0.0.1") == "10.0.0.1:4243"


async def test_renewal_applies_the_desired_role(manager: Manager) -> None:
    worker = await join(manager.addr, manager.worker_token, ca_addr=manager.ca_addr)

    def promote(n: objects_pb2.Node) -> None:
        n.spec.desired_role = types_pb2.MANAGER

    await manager.store.mutate(objects_pb2.Node, worker.node_id, promote)
    renewed = await renew(manager.addr, worker)
    assert renewed.node_id == worker.node_id
    assert renewed.role == types_pb2.MANAGER
    assert renewed.key_pem != worker.key_pem
    node = manager.store.get(objects_pb2.Node, worker.node_id)
    assert node.role == types_pb2.MANAGER


async def test_removed_node_cannot_renew(manager: Manager) -> None:
    worker = await join(manager.addr, manager.worker_token, ca_addr=manager.ca_addr)
    await manager.store.wait_for(await manager.store.delete(objects_pb2.Node, worker.node_id))
    with pytest.raises(JoinError, match=f"node {worker.node_id} is not a member of this cluster"):
        await renew(manager.addr, worker)
