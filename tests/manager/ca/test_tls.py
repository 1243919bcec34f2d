"""Mutual TLS and roles on a real grpc.aio server on 127.0.0.1."""

from __future__ import annotations

import grpc
import pytest

from shoal.manager.ca import (
    CAService,
    Identity,
    NodeCredentials,
    authorize,
    channel_options,
    ensure_cluster,
    fetch_root_ca,
    join,
    secure_channel,
)
from shoal.manager.store import Store, StoreConfig
from shoal.proto.shoal.v1 import (
    ca_pb2,
    ca_pb2_grpc,
    control_pb2,
    control_pb2_grpc,
    dispatcher_pb2,
    dispatcher_pb2_grpc,
    types_pb2,
)
from tests.manager.ca.conftest import Manager


async def get_tokens(channel: grpc.aio.Channel) -> control_pb2.GetJoinTokensResponse:
    stub = control_pb2_grpc.ControlStub(channel)
    return await stub.GetJoinTokens(control_pb2.GetJoinTokensRequest(), timeout=5)


async def heartbeat(channel: grpc.aio.Channel) -> None:
    stub = dispatcher_pb2_grpc.DispatcherStub(channel)
    await stub.Heartbeat(dispatcher_pb2.HeartbeatRequest(), timeout=5)


async def test_manager_may_call_control(manager: Manager) -> None:
    async with secure_channel(manager.addr, manager.creds) as ch:
        resp = await get_tokens(ch)
    assert resp.join_tokens.worker == manager.worker_token
    assert manager.seen.callers == [manager.creds.identity]


async def test_worker_may_not_call_control_but_may_call_dispatcher(manager: Manager) -> None:
    worker = await join(manager.addr, manager.worker_token, ca_addr=manager.ca_addr)
    async with secure_channel(manager.addr, worker) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await get_tokens(ch)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert err.value.details() == (
            f"the Control API is for managers only: node {worker.node_id} is a worker"
        )
        await heartbeat(ch)
        stub = dispatcher_pb2_grpc.DispatcherStub(ch)
        got = [m async for m in stub.Assignments(dispatcher_pb2.AssignmentsRequest(), timeout=5)]
        assert len(got) == 1
    assert manager.seen.callers == [worker.identity, worker.identity]


async def test_without_a_certificate_only_the_ca_answers(manager: Manager) -> None:
    ca_pem = await fetch_root_ca(manager.ca_addr)
    creds = grpc.ssl_channel_credentials(ca_pem)
    async with grpc.aio.secure_channel(manager.ca_addr, creds, options=channel_options()) as ch:
        ca = ca_pb2_grpc.CAStub(ch)
        resp = await ca.GetRootCACertificate(ca_pb2.GetRootCACertificateRequest(), timeout=5)
        assert resp.certificate == ca_pem
        for call in (get_tokens, heartbeat):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(ch)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "needs a node certificate" in err.value.details()
    assert manager.seen.callers == []
    # The main port does not even finish the handshake without a certificate.
    async with grpc.aio.secure_channel(manager.addr, creds, options=channel_options()) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await get_tokens(ch)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_certificate_from_another_ca_is_refused_by_tls(
    manager: Manager, client, root: str
) -> None:
    # A second cluster, with its own root CA, in its own keyspace.
    other = Store(client, StoreConfig(root=root + "-other"))
    await other.start()
    try:
        cluster = await ensure_cluster(other)
        stranger = await CAService(other, cluster.id).issue_local(role=types_pb2.MANAGER)
    finally:
        await other.stop()
    # It trusts our CA (so the server side of the handshake passes) but has a foreign cert.
    mixed = NodeCredentials(
        stranger.node_id, stranger.role, stranger.key_pem, stranger.cert_pem, manager.creds.ca_pem
    )
    async with secure_channel(manager.addr, mixed) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await get_tokens(ch)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # And a client that trusts only the other CA refuses our manager.
    async with secure_channel(manager.addr, stranger) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await get_tokens(ch)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert manager.seen.callers == []


async def test_a_worker_certificate_cannot_pose_as_a_manager_server(manager: Manager) -> None:
    worker = await join(manager.addr, manager.worker_token, ca_addr=manager.ca_addr)
    server = grpc.aio.server()
    port = server.add_secure_port(
        "127.0.0.1:0",
        grpc.ssl_server_credentials([(worker.key_pem, worker.cert_pem)]),
    )
    await server.start()
    try:
        async with secure_channel(f"127.0.0.1:{port}", manager.creds) as ch:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await get_tokens(ch)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(None)


def test_authorize_table() -> None:
    mgr = Identity("m", types_pb2.MANAGER, "c1")
    wrk = Identity("w", types_pb2.WORKER, "c1")
    assert authorize("/shoal.v1.CA/IssueNodeCertificate", None) is None
    assert authorize("/shoal.v1.Control/ListNodes", mgr, "c1") is None
    assert authorize("/shoal.v1.Dispatcher/Session", wrk, "c1") is None
    code, msg = authorize("/shoal.v1.Control/ListNodes", wrk, "c1")
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, msg = authorize("/shoal.v1.Dispatcher/Session", None)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, msg = authorize("/shoal.v1.Control/ListNodes", mgr, "c2")
    assert (code, msg) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "node m belongs to cluster c1, not c2",
    )
    # Unknown services are for managers only.
    assert authorize("/other.Svc/Call", wrk)[0] == grpc.StatusCode.PERMISSION_DENIED
    assert authorize("/other.Svc/Call", mgr) is None
