"""ControlServicer over real gRPC with mutual TLS: codes and messages on the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from shoal.manager.ca import (
    AuthInterceptor,
    CAService,
    CAServicer,
    NodeCredentials,
    add_ports,
    ensure_cluster,
    join,
    secure_channel,
)
from shoal.manager.controlapi import ControlServicer
from shoal.manager.store import Store
from shoal.proto.shoal.v1 import ca_pb2_grpc, control_pb2, control_pb2_grpc, specs_pb2, types_pb2
from tests.manager.controlapi.conftest import service_spec


@pytest.fixture
async def rpc(
    store: Store,
) -> AsyncIterator[tuple[control_pb2_grpc.ControlStub, NodeCredentials, str]]:
    cluster = await ensure_cluster(store)
    ca = CAService(store, cluster.id)
    creds = await ca.issue_local(addr="127.0.0.1")
    server = grpc.aio.server(interceptors=[AuthInterceptor(cluster.id)])
    ca_pb2_grpc.add_CAServicer_to_server(CAServicer(ca), server)
    control_pb2_grpc.add_ControlServicer_to_server(ControlServicer(store, cluster.id), server)
    port, ca_port = add_ports(server, "127.0.0.1:0", creds, "127.0.0.1:0")
    await server.start()
    channel = secure_channel(f"127.0.0.1:{port}", creds)
    try:
        yield control_pb2_grpc.ControlStub(channel), creds, f"127.0.0.1:{ca_port}"
    finally:
        await channel.close()
        await server.stop(None)


async def expect(call, code: grpc.StatusCode, message: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()
    assert message in err.value.details()


async def test_service_round_trip_and_error_codes(rpc) -> None:
    stub, _, _ = rpc
    created = (
        await stub.CreateService(control_pb2.CreateServiceRequest(spec=service_spec()))
    ).service
    assert created.spec.annotations.name == "web"
    got = await stub.GetService(control_pb2.GetServiceRequest(service_id=created.id))
    assert got.service == created
    listed = await stub.ListServices(control_pb2.ListServicesRequest())
    assert [s.id for s in listed.services] == [created.id]

    await expect(
        stub.CreateService(control_pb2.CreateServiceRequest(spec=service_spec())),
        grpc.StatusCode.ALREADY_EXISTS,
        "service web already exists",
    )
    await expect(
        stub.CreateService(control_pb2.CreateServiceRequest(spec=service_spec("x", image=""))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "ContainerSpec: image reference must be provided",
    )
    await expect(
        stub.GetService(control_pb2.GetServiceRequest(service_id="nope")),
        grpc.StatusCode.NOT_FOUND,
        "service nope not found",
    )
    version = created.meta.version
    update = control_pb2.UpdateServiceRequest(
        service_id=created.id, service_version=version, spec=service_spec(replicas=2)
    )
    updated = (await stub.UpdateService(update)).service
    assert updated.spec.replicated.replicas == 2
    await expect(stub.UpdateService(update), grpc.StatusCode.ABORTED, "update out of sequence")
    await expect(
        stub.UpdateService(
            control_pb2.UpdateServiceRequest(
                service_id=created.id, service_version=updated.meta.version,
                spec=service_spec("renamed"),
            )
        ),
        grpc.StatusCode.UNIMPLEMENTED,
        "renaming services is not supported",
    )  # fmt: skip
    await stub.RemoveService(control_pb2.RemoveServiceRequest(service_id=created.id))
    await expect(
        stub.GetService(control_pb2.GetServiceRequest(service_id=created.id)),
        grpc.StatusCode.NOT_FOUND,
        "not found",
    )


async def test_nodes_cluster_and_tokens_over_grpc(rpc) -> None:
    stub, creds, ca_addr = rpc
    clusters = (await stub.ListClusters(control_pb2.ListClustersRequest())).clusters
    assert len(clusters) == 1 and clusters[0].root_ca.ca_key == b""
    tokens = (await stub.GetJoinTokens(control_pb2.GetJoinTokensRequest())).join_tokens
    worker = await join("127.0.0.1:1", tokens.worker, ca_addr=ca_addr)

    nodes = (await stub.ListNodes(control_pb2.ListNodesRequest())).nodes
    assert {n.id for n in nodes} == {creds.node_id, worker.node_id}
    await expect(
        stub.RemoveNode(control_pb2.RemoveNodeRequest(node_id=worker.node_id)),
        grpc.StatusCode.FAILED_PRECONDITION,
        f"node {worker.node_id} is not down and can't be removed",
    )
    # The caller's identity comes from its certificate.
    await expect(
        stub.RemoveNode(control_pb2.RemoveNodeRequest(node_id=creds.node_id, force=True)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "a manager cannot remove itself",
    )
    me = (await stub.GetNode(control_pb2.GetNodeRequest(node_id=creds.node_id))).node
    await expect(
        stub.UpdateNode(
            control_pb2.UpdateNodeRequest(
                node_id=me.id, node_version=me.meta.version,
                spec=specs_pb2.NodeSpec(desired_role=types_pb2.WORKER),
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "attempting to demote the last manager of the swarm",
    )  # fmt: skip
    await stub.RemoveNode(control_pb2.RemoveNodeRequest(node_id=worker.node_id, force=True))

    cluster = clusters[0]
    rotated = await stub.UpdateCluster(
        control_pb2.UpdateClusterRequest(
            cluster_id=cluster.id, cluster_version=cluster.meta.version, spec=cluster.spec,
            rotation=control_pb2.KeyRotation(worker_join_token=True),
        )
    )  # fmt: skip
    assert rotated.cluster.root_ca.join_tokens.worker != tokens.worker
    with pytest.raises(Exception, match="A valid join token is necessary"):
        await join("127.0.0.1:1", tokens.worker, ca_addr=ca_addr)
