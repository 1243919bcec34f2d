"""The Dispatcher gRPC service: parse, identify the caller, call Dispatcher, map errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import NoReturn, TypeAlias

import grpc
from google.protobuf.duration_pb2 import Duration

from shoal.manager.dispatcher.auth import Authenticator, metadata_identity
from shoal.manager.dispatcher.dispatcher import Dispatcher
from shoal.manager.dispatcher.errors import (
    DispatcherError,
    DispatcherStopped,
    PermissionDenied,
    SessionInvalid,
    Unauthenticated,
)
from shoal.manager.store import (
    AlreadyExists,
    InvalidObject,
    NotFound,
    StoreError,
    StoreUnavailable,
    VersionConflict,
)
from shoal.proto.shoal.v1 import dispatcher_pb2 as pb
from shoal.proto.shoal.v1 import dispatcher_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

Context: TypeAlias = grpc.aio.ServicerContext

_CODES: list[tuple[type[Exception], grpc.StatusCode]] = [
    (SessionInvalid, grpc.StatusCode.NOT_FOUND),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (DispatcherStopped, grpc.StatusCode.UNAVAILABLE),
    (StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (VersionConflict, grpc.StatusCode.ABORTED),
    (InvalidObject, grpc.StatusCode.INVALID_ARGUMENT),
]


def status_code(exc: Exception) -> grpc.StatusCode:
    """Return the gRPC code for a dispatcher or store error."""
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


async def _abort(context: Context, exc: Exception) -> NoReturn:
    await context.abort(status_code(exc), str(exc))
    raise AssertionError("abort returned")  # pragma: no cover


def peer_host(context: Context) -> str:
    """Return the caller's IP address ("ipv4:1.2.3.4:5" -> "1.2.3.4")."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]").replace("%5B", "").replace("%5D", "")
    return ""


class DispatcherServicer(pb_grpc.DispatcherServicer):
    """Serves Dispatcher over gRPC; AUTHENTICATE names the caller (from its certificate)."""

    def __init__(self, dispatcher: Dispatcher, authenticate: Authenticator = metadata_identity):
        self.dispatcher = dispatcher
        self.authenticate = authenticate

    async def Session(
        self, request: pb.SessionRequest, context: Context
    ) -> AsyncIterator[pb.SessionMessage]:
        try:
            who = self.authenticate(context)
            stream = self.dispatcher.session(
                who.node_id,
                request.description,
                role=who.role,
                session_id=request.session_id,
                peer_addr=peer_host(context),
            )
            async for msg in stream:
                yield msg
        except (DispatcherError, StoreError) as exc:
            await _abort(context, exc)

    async def Heartbeat(
        self, request: pb.HeartbeatRequest, context: Context
    ) -> pb.HeartbeatResponse:
        try:
            who = self.authenticate(context)
            period = self.dispatcher.heartbeat(who.node_id, request.session_id)
        except (DispatcherError, StoreError) as exc:
            await _abort(context, exc)
        d = Duration()
        d.FromNanoseconds(int(period * 1e9))
        return pb.HeartbeatResponse(period=d)

    async def Assignments(
        self, request: pb.AssignmentsRequest, context: Context
    ) -> AsyncIterator[pb.AssignmentsMessage]:
        try:
            who = self.authenticate(context)
            async for msg in self.dispatcher.assignments(who.node_id, request.session_id):
                yield msg
        except (DispatcherError, StoreError) as exc:
            await _abort(context, exc)

    async def UpdateTaskStatus(
        self, request: pb.UpdateTaskStatusRequest, context: Context
    ) -> pb.UpdateTaskStatusResponse:
        try:
            who = self.authenticate(context)
            await self.dispatcher.update_task_status(
                who.node_id, request.session_id, request.updates
            )
        except (DispatcherError, StoreError) as exc:
            await _abort(context, exc)
        return pb.UpdateTaskStatusResponse()


# Big COMPLETE sets (thousands of tasks on one node) exceed gRPC's 4 MiB default.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SERVER_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # agents keep two streams open for hours: let their keepalive pings in
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    ("grpc.http2.max_pings_without_data", 0),
]


def add_to_server(
    server: grpc.aio.Server,
    dispatcher: Dispatcher,
    authenticate: Authenticator = metadata_identity,
) -> DispatcherServicer:
    """Serve DISPATCHER on SERVER (create the server with SERVER_OPTIONS)."""
    servicer = DispatcherServicer(dispatcher, authenticate)
    pb_grpc.add_DispatcherServicer_to_server(servicer, server)
    return servicer
