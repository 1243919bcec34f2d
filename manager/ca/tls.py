"""Mutual TLS for the managers' gRPC server, and who may call what.

A manager's grpc.aio server listens on two ports, with the same services:

- the main port (`server_credentials`) requires a client certificate signed by
  the cluster's root CA; handshakes with no certificate, or one from another
  CA, fail at the TLS level;
- the CA port (`ca_server_credentials`, by default main port + 1) is TLS
  without client certificates, so that a node that has none yet can join.

gRPC Python cannot ask for a client certificate without requiring it, hence
two ports. `AuthInterceptor` then decides per call from the verified peer
certificate (`peer_identity`): the CA service is open to anyone (a join needs
a token); every other call needs a node certificate, so on the CA port it is
refused; the Control API needs the manager role; the Dispatcher and the
LogBroker accept any node (they check that a node only speaks for its own id).

Clients verify the manager by the name "swarm-manager" in its certificate's
SAN (`channel_options`), not by its address: only managers have that name.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc

from shoal.manager.ca.addr import ca_address, join_host_port, split_host_port
from shoal.manager.ca.certs import MANAGER_OU, Identity, identity_of
from shoal.manager.ca.credentials import NodeCredentials
from shoal.manager.ca.errors import CertificateError
from shoal.proto.shoal.v1 import types_pb2

CA_SERVICE = "shoal.v1.CA"
CONTROL_SERVICE = "shoal.v1.Control"
DISPATCHER_SERVICE = "shoal.v1.Dispatcher"
LOGBROKER_SERVICE = "shoal.v1.LogBroker"
MANAGER_SERVER_NAME = MANAGER_OU

Roles = frozenset[types_pb2.NodeRole]
MANAGERS: Roles = frozenset({types_pb2.MANAGER})
ANY_NODE: Roles = frozenset({types_pb2.MANAGER, types_pb2.WORKER})

# service -> roles allowed; None means open to callers without a certificate.
DEFAULT_POLICIES: Mapping[str, Roles | None] = {
    CA_SERVICE: None,
    CONTROL_SERVICE: MANAGERS,
    DISPATCHER_SERVICE: ANY_NODE,
    LOGBROKER_SERVICE: ANY_NODE,
}
_API_NAMES = {CONTROL_SERVICE: "the Control API", DISPATCHER_SERVICE: "the Dispatcher API"}


def server_credentials(creds: NodeCredentials) -> grpc.ServerCredentials:
    """Return credentials for the main port: mutual TLS with the cluster's root CA."""
    return grpc.ssl_server_credentials(
        [(creds.key_pem, creds.cert_pem)], root_certificates=creds.ca_pem, require_client_auth=True
    )


def ca_server_credentials(creds: NodeCredentials) -> grpc.ServerCredentials:
    """Return credentials for the CA port: server-side TLS only."""
    return grpc.ssl_server_credentials([(creds.key_pem, creds.cert_pem)])


def channel_credentials(creds: NodeCredentials) -> grpc.ChannelCredentials:
    """Return client credentials: present the node certificate, trust only the root CA."""
    return grpc.ssl_channel_credentials(creds.ca_pem, creds.key_pem, creds.cert_pem)


def channel_options(server_name: str = MANAGER_SERVER_NAME) -> list[tuple[str, Any]]:
    """Return the channel options that verify the server as SERVER_NAME (a manager)."""
    return [("grpc.ssl_target_name_override", server_name)]


def secure_channel(addr: str, creds: NodeCredentials) -> grpc.aio.Channel:
    """Return a mutual-TLS channel to the manager at ADDR (its main port)."""
    return grpc.aio.secure_channel(addr, channel_credentials(creds), options=channel_options())


def add_ports(
    server: grpc.aio.Server, listen_addr: str, creds: NodeCredentials, ca_listen_addr: str = ""
) -> tuple[int, int]:
    """Add the main (mutual TLS) and CA (TLS) ports to SERVER; return the bound ports.

    CA_LISTEN_ADDR defaults to the main port + 1 (`addr.ca_address`); tests
    pass "127.0.0.1:0" for both.
    """
    port = server.add_secure_port(listen_addr, server_credentials(creds))
    if not ca_listen_addr:
        ca_listen_addr = ca_address(join_host_port(split_host_port(listen_addr)[0], port))
    ca_port = server.add_secure_port(ca_listen_addr, ca_server_credentials(creds))
    return port, ca_port


@functools.lru_cache(maxsize=4096)
def _identity_of_pem(pem: bytes) -> Identity | None:
    try:
        return identity_of(pem)
    except CertificateError:
        return None


def peer_identity(context: grpc.aio.ServicerContext) -> Identity | None:
    """Return the identity in the caller's verified certificate, None without one.

    gRPC only exposes a client certificate once the handshake verified it
    against the root CA, so an identity here is one the cluster issued.
    """
    pems = context.auth_context().get("x509_pem_cert")
    if not pems:
        return None
    return _identity_of_pem(bytes(pems[0]))


def authorize(
    method: str,
    identity: Identity | None,
    cluster_id: str = "",
    policies: Mapping[str, Roles | None] = DEFAULT_POLICIES,
) -> tuple[grpc.StatusCode, str] | None:
    """Return (code, message) refusing METHOD ("/pkg.Service/Call") to IDENTITY, or None.

    Services missing from POLICIES are for managers only.
    """
    service = method.lstrip("/").split("/", 1)[0]
    roles = policies.get(service, MANAGERS)
    if roles is None:
        return None
    if identity is None:
        return (
            grpc.StatusCode.UNAUTHENTICATED,
            f"{method} needs a node certificate: call the manager's main port with mutual "
            "TLS (its CA port serves only the CA service)",
        )
    if cluster_id and identity.cluster_id != cluster_id:
        return (
            grpc.StatusCode.PERMISSION_DENIED,
            f"node {identity.node_id} belongs to cluster {identity.cluster_id}, not {cluster_id}",
        )
    if identity.role not in roles:
        api = _API_NAMES.get(service, service)
        allowed = " and ".join(sorted("managers" if r else "workers" for r in roles))
        return (
            grpc.StatusCode.PERMISSION_DENIED,
            f"{api} is for {allowed} only: node {identity.node_id} is a {identity.role_name}",
        )
    return None


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses each call the caller's certificate does not allow (see `authorize`)."""

    def __init__(
        self, cluster_id: str = "", policies: Mapping[str, Roles | None] = DEFAULT_POLICIES
    ) -> None:
        self.cluster_id = cluster_id
        self.policies = policies
        # method -> (handler, guarded handler): servicers register their
        # handlers once, so each is wrapped once, not on every call.
        self._guarded: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        service = method.lstrip("/").split("/", 1)[0]
        if handler is None or self.policies.get(service, MANAGERS) is None:
            return handler
        cached = self._guarded.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]

        async def check(context: grpc.aio.ServicerContext) -> None:
            refusal = authorize(method, peer_identity(context), self.cluster_id, self.policies)
            if refusal is not None:
                await context.abort(*refusal)

        guarded = _guarded(handler, check)
        self._guarded[method] = (handler, guarded)
        return guarded


def _guarded(
    handler: grpc.RpcMethodHandler,
    check: Callable[[grpc.aio.ServicerContext], Awaitable[None]],
) -> grpc.RpcMethodHandler:
    """Return HANDLER with CHECK run before its behaviour (the auth context lives there)."""
    if handler.request_streaming and handler.response_streaming:
        inner, make = handler.stream_stream, grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        inner, make = handler.stream_unary, grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        inner, make = handler.unary_stream, grpc.unary_stream_rpc_method_handler
    else:
        inner, make = handler.unary_unary, grpc.unary_unary_rpc_method_handler

    behaviour: Callable[..., Any]
    if inspect.isasyncgenfunction(inner):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await check(context)
            async for item in inner(request, context):
                yield item

        behaviour = stream
    else:

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await check(context)
            result = inner(request, context)
            return await result if inspect.isawaitable(result) else result

        behaviour = call
    return make(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
