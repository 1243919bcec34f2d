"""The cluster object: get, list, update (with join token rotation), join tokens.

The root CA's key never leaves the managers' store: every answer has it
cleared. The rest of the root CA (certificate, digest, tokens) is returned,
as Docker returns the join tokens to managers.
"""

from __future__ import annotations

import builtins
import datetime

from shoal.manager.ca.tokens import generate_join_token
from shoal.manager.controlapi.base import Base
from shoal.manager.controlapi.errors import InvalidArgument, Unimplemented
from shoal.manager.controlapi.filters import spec_filter
from shoal.proto.shoal.v1 import control_pb2, objects_pb2, specs_pb2, types_pb2

Cluster = objects_pb2.Cluster
MIN_NODE_CERT_EXPIRY = datetime.timedelta(hours=1)


def redact(cluster: Cluster) -> Cluster:
    """Return CLUSTER without its root CA key (in place)."""
    cluster.root_ca.ca_key = b""
    return cluster


def check_cluster_spec(spec: specs_pb2.ClusterSpec) -> None:
    expiry = spec.ca_config.node_cert_expiry
    if spec.ca_config.HasField("node_cert_expiry") and expiry.ToTimedelta() < MIN_NODE_CERT_EXPIRY:
        raise InvalidArgument("minimum certificate expiry time is: 1h0m0s")
    heartbeat = spec.dispatcher.heartbeat_period
    if heartbeat.seconds < 0 or heartbeat.nanos < 0:
        raise InvalidArgument("heartbeat period cannot be negative")


class ClusterOps(Base):
    """The cluster calls of the Control API."""

    def get_cluster(self, cluster_id: str = "") -> Cluster:
        return redact(self._get(Cluster, cluster_id or self.cluster_id))

    def list_clusters(
        self, filters: control_pb2.ListFilters | None = None
    ) -> builtins.list[Cluster]:
        return [redact(c) for c in self._list(Cluster, spec_filter(filters))]

    async def update_cluster(
        self,
        cluster_id: str,
        version: int,
        spec: specs_pb2.ClusterSpec,
        *,
        rotate_worker_token: bool = False,
        rotate_manager_token: bool = False,
    ) -> Cluster:
        """Replace the cluster's spec (read at VERSION); rotate join tokens if asked."""
        cluster = await self._at_version(Cluster, cluster_id or self.cluster_id, version)
        if spec.annotations.name != cluster.spec.annotations.name:
            raise Unimplemented("renaming the cluster is not supported")
        check_cluster_spec(spec)
        cluster.spec.CopyFrom(spec)
        digest = cluster.root_ca.ca_cert_hash
        if rotate_worker_token:
            cluster.root_ca.join_tokens.worker = generate_join_token(digest)
        if rotate_manager_token:
            cluster.root_ca.join_tokens.manager = generate_join_token(digest)
        updated = await self.store.update(cluster)
        await self._settle(updated.meta.version.index)
        return redact(updated)

    def get_join_tokens(self) -> types_pb2.JoinTokens:
        tokens = types_pb2.JoinTokens()
        tokens.CopyFrom(self._get(Cluster, self.cluster_id).root_ca.join_tokens)
        return tokens
