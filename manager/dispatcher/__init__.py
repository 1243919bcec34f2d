"""The dispatcher: agents' sessions, heartbeats, assignments and status reports.

    dispatcher = Dispatcher(store, DispatcherConfig())
    await dispatcher.start()
    server = grpc.aio.server(options=SERVER_OPTIONS)
    add_to_server(server, dispatcher, tls_identity)   # metadata_identity without TLS
    ...
    await dispatcher.stop()

See docs/agent.md for the protocol as both sides use it.
"""

from shoal.manager.dispatcher.auth import (
    NODE_ID_METADATA,
    NODE_ROLE_METADATA,
    Authenticator,
    Identity,
    metadata_identity,
    tls_identity,
)
from shoal.manager.dispatcher.config import DispatcherConfig
from shoal.manager.dispatcher.dispatcher import Dispatcher
from shoal.manager.dispatcher.errors import (
    DispatcherError,
    DispatcherStopped,
    PermissionDenied,
    SessionInvalid,
    Unauthenticated,
)
from shoal.manager.dispatcher.servicer import (
    MAX_MESSAGE_BYTES,
    SERVER_OPTIONS,
    DispatcherServicer,
    add_to_server,
)

__all__ = [
    "MAX_MESSAGE_BYTES",
    "NODE_ID_METADATA",
    "NODE_ROLE_METADATA",
    "SERVER_OPTIONS",
    "Authenticator",
    "Dispatcher",
    "DispatcherConfig",
    "DispatcherError",
    "DispatcherServicer",
    "DispatcherStopped",
    "Identity",
    "PermissionDenied",
    "SessionInvalid",
    "Unauthenticated",
    "add_to_server",
    "metadata_identity",
    "tls_identity",
]
