"""The CA's logic: serve the root certificate, issue node certificates.

A join presents a join token and a CSR. The token's secret decides the role
(the manager token or the worker token of the cluster); the CA picks a new
node id, signs the CSR's key with a subject it writes itself, and creates the
Node object (role, desired role, availability, status UNKNOWN until the node's
dispatcher session opens). A renewal presents no token but comes over mutual
TLS: the node keeps its id and gets the role the managers want for it
(`spec.desired_role`), which is how promotion and demotion take effect.

Network-free: the servicer (servicer.py) maps errors to gRPC codes.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from shoal.manager.ca.addr import split_host_port
from shoal.manager.ca.certs import (
    DEFAULT_NODE_CERT_EXPIRY,
    Identity,
    RootCA,
    generate_key,
    make_csr,
)
from shoal.manager.ca.credentials import NodeCredentials
from shoal.manager.ca.errors import (
    CANotReady,
    InvalidRequest,
    JoinTokenRejected,
    NotAMember,
)
from shoal.manager.ca.tokens import parse_join_token, same_token
from shoal.manager.store import Store, StoreUnavailable, new_id
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2, types_pb2

_AVAILABILITY = {
    "": specs_pb2.NodeSpec.ACTIVE,
    "active": specs_pb2.NodeSpec.ACTIVE,
    "pause": specs_pb2.NodeSpec.PAUSE,
    "drain": specs_pb2.NodeSpec.DRAIN,
}


@dataclass(frozen=True)
class Issued:
    """A certificate the CA issued, and for whom."""

    node_id: str
    role: types_pb2.NodeRole
    cert_pem: bytes
    ca_pem: bytes


def parse_availability(text: str) -> specs_pb2.NodeSpec.Availability:
    """Return the availability named TEXT ("active", "pause", "drain"; empty is active)."""
    try:
        return _AVAILABILITY[text.strip().lower()]
    except KeyError:
        raise InvalidRequest(f"invalid availability {text!r}: use active, pause or drain") from None


class CAService:
    """Issues node certificates for the cluster CLUSTER_ID, whose root CA is in STORE."""

    def __init__(self, store: Store, cluster_id: str) -> None:
        self.store = store
        self.cluster_id = cluster_id

    def cluster(self) -> objects_pb2.Cluster:
        """Return the cluster object (from the cache); CANotReady if absent."""
        cluster = self.store.get(objects_pb2.Cluster, self.cluster_id, copy=False)
        if cluster is None or not cluster.root_ca.ca_cert:
            raise CANotReady(f"cluster {self.cluster_id} and its root CA are not in the store yet")
        return cluster

    def root_ca(self) -> RootCA:
        return RootCA.from_proto(self.cluster().root_ca)

    def root_ca_pem(self) -> bytes:
        """Return the root CA certificate (what GetRootCACertificate answers)."""
        return bytes(self.cluster().root_ca.ca_cert)

    def _expiry(self, cluster: objects_pb2.Cluster) -> datetime.timedelta:
        d = cluster.spec.ca_config.node_cert_expiry
        return d.ToTimedelta() if d.seconds > 0 else DEFAULT_NODE_CERT_EXPIRY

    async def issue(
        self,
        csr_pem: bytes,
        token: str = "",
        *,
        availability: str = "",
        addr: str = "",
        peer: Identity | None = None,
    ) -> Issued:
        """Issue a certificate: a join if TOKEN is given, else a renewal for PEER."""
        if token:
            return await self._join(csr_pem, token, parse_availability(availability), addr)
        if peer is None:
            raise JoinTokenRejected()
        return await self._renew(csr_pem, peer, addr)

    async def _join(
        self,
        csr_pem: bytes,
        token: str,
        availability: specs_pb2.NodeSpec.Availability,
        addr: str,
    ) -> Issued:
        parse_join_token(token)  # says what is wrong with a malformed token
        cluster = self.cluster()
        tokens = cluster.root_ca.join_tokens
        is_manager = same_token(token, tokens.manager)
        is_worker = same_token(token, tokens.worker)
        if not (is_manager or is_worker):
            raise JoinTokenRejected()
        role = types_pb2.MANAGER if is_manager else types_pb2.WORKER
        node_id = new_id()
        # Sign first: a CSR the CA refuses must not leave a Node behind.
        cert = RootCA.from_proto(cluster.root_ca).issue(
            csr_pem,
            node_id=node_id,
            role=role,
            cluster_id=self.cluster_id,
            addresses=[addr] if addr else [],
            expiry=self._expiry(cluster),
        )
        node = objects_pb2.Node(id=node_id, role=role)
        node.spec.desired_role = role
        node.spec.availability = availability
        node.status.state = objects_pb2.NodeStatus.UNKNOWN
        node.status.addr = _host(addr)
        created = await self.store.create(node)
        await self._settle(created.meta.version.index)
        return Issued(node_id, role, cert, bytes(cluster.root_ca.ca_cert))

    async def _renew(self, csr_pem: bytes, peer: Identity, addr: str) -> Issued:
        cluster = self.cluster()
        if peer.cluster_id != self.cluster_id:
            raise NotAMember(f"node {peer.node_id} belongs to another cluster")
        node = self.store.get(objects_pb2.Node, peer.node_id, copy=False)
        if node is None:
            raise NotAMember(f"node {peer.node_id} is not a member of this cluster")
        role = node.spec.desired_role
        addresses = [a for a in (addr, node.status.addr) if a]
        cert = RootCA.from_proto(cluster.root_ca).issue(
            csr_pem,
            node_id=peer.node_id,
            role=role,
            cluster_id=self.cluster_id,
            addresses=addresses,
            expiry=self._expiry(cluster),
        )
        if node.role != role:

            def set_role(n: objects_pb2.Node) -> bool:
                if n.role == role:
                    return False
                n.role = role
                return True

            updated = await self.store.mutate(objects_pb2.Node, peer.node_id, set_role)
            await self._settle(updated.meta.version.index)
        return Issued(peer.node_id, role, cert, bytes(cluster.root_ca.ca_cert))

    async def issue_local(
        self,
        *,
        role: types_pb2.NodeRole = types_pb2.MANAGER,
        addr: str = "",
        availability: str = "",
    ) -> NodeCredentials:
        """Make a key and a certificate for this host (the first manager at init).

        Goes through the same path as a join with the cluster's own token, so
        the Node object is created the same way.
        """
        tokens = self.cluster().root_ca.join_tokens
        token = tokens.manager if role == types_pb2.MANAGER else tokens.worker
        key = generate_key()
        issued = await self.issue(make_csr(key), token, availability=availability, addr=addr)
        return NodeCredentials(issued.node_id, issued.role, key, issued.cert_pem, issued.ca_pem)

    async def _settle(self, revision: int) -> None:
        """Wait until this manager's cache shows a write (best effort)."""
        try:
            await self.store.wait_for(revision)
        except StoreUnavailable:
            pass


def _host(addr: str) -> str:
    if not addr.strip():
        return ""
    try:
        return split_host_port(addr)[0]
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
