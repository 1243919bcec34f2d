"""Who is calling: the node identity of a gRPC caller.

With mTLS the node id and role come from the peer certificate
(`shoal.manager.ca.tls.peer_identity`), never from the request. Without TLS
(unit tests, benchmarks on loopback) `metadata_identity` reads them from the
call metadata; a manager never serves that on a real listener.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc

from shoal.manager.dispatcher.errors import Unauthenticated
from shoal.proto.shoal.v1.types_pb2 import NodeRole

NODE_ID_METADATA = "shoal-node-id"
NODE_ROLE_METADATA = "shoal-node-role"


@dataclass(frozen=True)
class Identity:
    """A caller: its node id and the role its certificate grants."""

    node_id: str
    role: int = NodeRole.WORKER


Authenticator = Callable[[grpc.aio.ServicerContext], Identity]


def metadata_identity(context: grpc.aio.ServicerContext) -> Identity:
    """Return the identity the caller claims in its metadata (insecure channels only)."""
    md = dict(context.invocation_metadata() or ())
    node_id = md.get(NODE_ID_METADATA)
    if not node_id or not isinstance(node_id, str):
        raise Unauthenticated(f"no node identity: send {NODE_ID_METADATA} metadata or use mTLS")
    role = NodeRole.MANAGER if md.get(NODE_ROLE_METADATA) == "manager" else NodeRole.WORKER
    return Identity(node_id, role)


def tls_identity(context: grpc.aio.ServicerContext) -> Identity:
    """Return the identity in the caller's verified certificate (manager/ca/tls.py)."""
    from shoal.manager.ca.tls import peer_identity

    peer = peer_identity(context)
    if peer is None:
        raise Unauthenticated("no node certificate: call the manager's main port with mTLS")
    return Identity(peer.node_id, int(peer.role))
