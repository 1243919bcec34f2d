"""A manager's gRPC server on 127.0.0.1 with the CA, a Control and a Dispatcher stub.

The Control and Dispatcher servicers here only record who called them: the
tests are about who gets through the TLS handshake and the AuthInterceptor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import pytest

from shoal.manager.ca import (
    AuthInterceptor,
    CAService,
    CAServicer,
    Identity,
    NodeCredentials,
    add_ports,
    ensure_cluster,
    peer_identity,
)
from shoal.manager.store import Store
from shoal.proto.shoal.v1 import (
    ca_pb2_grpc,
    control_pb2,
    control_pb2_grpc,
    dispatcher_pb2,
    dispatcher_pb2_grpc,
    objects_pb2,
)


@dataclass
class Seen:
    callers: list[Identity | None] = field(default_factory=list)


class RecordingControl(control_pb2_grpc.ControlServicer):
    def __init__(self, seen: Seen, tokens: objects_pb2.RootCA) -> None:
        self.seen = seen
        self.tokens = tokens

    async def GetJoinTokens(self, request, context):
        self.seen.callers.append(peer_identity(context))
        return control_pb2.GetJoinTokensResponse(join_tokens=self.tokens.join_tokens)


class RecordingDispatcher(dispatcher_pb2_grpc.DispatcherServicer):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def Heartbeat(self, request, context):
        self.seen.callers.append(peer_identity(context))
        return dispatcher_pb2.HeartbeatResponse()

    async def Assignments(self, request, context):
        self.seen.callers.append(peer_identity(context))
        yield dispatcher_pb2.AssignmentsMessage()


@dataclass
class Manager:
    store: Store
    cluster: objects_pb2.Cluster
    ca: CAService
    creds: NodeCredentials
    port: int
    ca_port: int
    seen: Seen

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ca_addr(self) -> str:
        return f"127.0.0.1:{self.ca_port}"

    @property
    def worker_token(self) -> str:
        return self.cluster.root_ca.join_tokens.worker

    @property
    def manager_token(self) -> str:
        return self.cluster.root_ca.join_tokens.manager


@pytest.fixture
async def manager(store: Store) -> AsyncIterator[Manager]:
    cluster = await ensure_cluster(store)
    ca = CAService(store, cluster.id)
    creds = await ca.issue_local(addr="127.0.0.1")
    seen = Seen()
    server = grpc.aio.server(interceptors=[AuthInterceptor(cluster.id)])
    ca_pb2_grpc.add_CAServicer_to_server(CAServicer(ca), server)
    control_pb2_grpc.add_ControlServicer_to_server(RecordingControl(seen, cluster.root_ca), server)
    dispatcher_pb2_grpc.add_DispatcherServicer_to_server(RecordingDispatcher(seen), server)
    port, ca_port = add_ports(server, "127.0.0.1:0", creds, "127.0.0.1:0")
    await server.start()
    try:
        yield Manager(store, cluster, ca, creds, port, ca_port, seen)
    finally:
        await server.stop(None)
