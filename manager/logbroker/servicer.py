"""The LogBroker gRPC service: identify the caller, call LogBroker, map errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NoReturn, TypeAlias

import grpc

from shoal.manager.dispatcher.auth import Authenticator, metadata_identity
from shoal.manager.dispatcher.errors import DispatcherError, Unauthenticated
from shoal.manager.logbroker.broker import LogBroker
from shoal.manager.logbroker.errors import (
    BrokerStopped,
    LogBrokerError,
    PermissionDenied,
    SubscriptionGone,
)
from shoal.proto.shoal.v1 import logbroker_pb2 as pb
from shoal.proto.shoal.v1 import logbroker_pb2_grpc as pb_grpc

Context: TypeAlias = grpc.aio.ServicerContext

_CODES: list[tuple[type[Exception], grpc.StatusCode]] = [
    (SubscriptionGone, grpc.StatusCode.NOT_FOUND),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (BrokerStopped, grpc.StatusCode.UNAVAILABLE),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
]


def status_code(exc: Exception) -> grpc.StatusCode:
    """Return the gRPC code for a log broker (or authentication) error."""
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


async def _abort(context: Context, exc: Exception) -> NoReturn:
    await context.abort(status_code(exc), str(exc))
    raise AssertionError("abort returned")  # pragma: no cover


class LogBrokerServicer(pb_grpc.LogBrokerServicer):
    """Serves LogBroker over gRPC; AUTHENTICATE names the caller (from its certificate)."""

    def __init__(self, broker: LogBroker, authenticate: Authenticator = metadata_identity):
        self.broker = broker
        self.authenticate = authenticate

    async def ListenSubscriptions(
        self, request: pb.ListenSubscriptionsRequest, context: Context
    ) -> AsyncIterator[pb.SubscriptionMessage]:
        try:
            who = self.authenticate(context)
            async for msg in self.broker.listen(who.node_id):
                yield msg
        except (LogBrokerError, DispatcherError) as exc:
            await _abort(context, exc)

    async def PublishLogs(
        self, request_iterator: AsyncIterator[pb.PublishLogsMessage], context: Context
    ) -> pb.PublishLogsResponse:
        try:
            who = self.authenticate(context)
            async for msg in request_iterator:
                await self.broker.publish(who.node_id, msg)
        except (LogBrokerError, DispatcherError) as exc:
            await _abort(context, exc)
        return pb.PublishLogsResponse()


def add_to_server(
    server: grpc.aio.Server, broker: LogBroker, authenticate: Authenticator = metadata_identity
) -> LogBrokerServicer:
    """Serve BROKER on SERVER."""
    servicer = LogBrokerServicer(broker, authenticate)
    pb_grpc.add_LogBrokerServicer_to_server(servicer, server)
    return servicer
