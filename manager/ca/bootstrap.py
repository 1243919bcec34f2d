"""Creating the cluster object: its default spec, root CA and join tokens.

`shoal cluster init` (docs/cluster.md) calls `ensure_cluster(store)` once the
store runs, then `CAService.issue_local()` for the first manager's own
certificate. Two managers racing to create the cluster cannot both win: the
cluster's name is unique in the store, and the loser reads the winner's.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence

from google.protobuf.duration_pb2 import Duration

from shoal.manager.ca.certs import DEFAULT_NODE_CERT_EXPIRY, RootCA
from shoal.manager.ca.tokens import generate_join_token
from shoal.manager.store import AlreadyExists, Store, StoreUnavailable
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2

DEFAULT_CLUSTER_NAME = "default"
DEFAULT_HEARTBEAT_PERIOD = datetime.timedelta(seconds=5)
DEFAULT_TASK_HISTORY = 5


def _duration(td: datetime.timedelta) -> Duration:
    d = Duration()
    d.FromTimedelta(td)
    return d


def default_cluster_spec(name: str = DEFAULT_CLUSTER_NAME) -> specs_pb2.ClusterSpec:
    """Return Docker's defaults: 5 dead tasks per slot, 5 s heartbeats, 90-day certificates."""
    spec = specs_pb2.ClusterSpec()
    spec.annotations.name = name
    spec.orchestration.task_history_retention_limit = DEFAULT_TASK_HISTORY
    spec.dispatcher.heartbeat_period.CopyFrom(_duration(DEFAULT_HEARTBEAT_PERIOD))
    spec.ca_config.node_cert_expiry.CopyFrom(_duration(DEFAULT_NODE_CERT_EXPIRY))
    return spec


def new_root_ca(root: RootCA | None = None) -> objects_pb2.RootCA:
    """Return a RootCA message for ROOT (a new CA if None) with fresh join tokens."""
    root = root or RootCA.create()
    digest = root.digest
    msg = objects_pb2.RootCA(ca_key=root.key_pem, ca_cert=root.cert_pem, ca_cert_hash=digest)
    msg.join_tokens.worker = generate_join_token(digest)
    msg.join_tokens.manager = generate_join_token(digest)
    return msg


def new_cluster(
    spec: specs_pb2.ClusterSpec | None = None, etcd_endpoints: Sequence[str] = ()
) -> objects_pb2.Cluster:
    """Return a Cluster (not yet stored) with SPEC (defaults if None) and a new root CA."""
    cluster = objects_pb2.Cluster(etcd_endpoints=list(etcd_endpoints))
    cluster.spec.CopyFrom(spec if spec is not None else default_cluster_spec())
    if not cluster.spec.annotations.name:
        cluster.spec.annotations.name = DEFAULT_CLUSTER_NAME
    cluster.root_ca.CopyFrom(new_root_ca())
    return cluster


async def ensure_cluster(
    store: Store,
    spec: specs_pb2.ClusterSpec | None = None,
    *,
    etcd_endpoints: Sequence[str] = (),
) -> objects_pb2.Cluster:
    """Return the cluster named by SPEC ("default"), creating it if it does not exist.

    SPEC and ETCD_ENDPOINTS only apply to a cluster created here.
    """
    name = (spec.annotations.name if spec is not None else "") or DEFAULT_CLUSTER_NAME
    existing = store.cache.by_name(objects_pb2.Cluster, name)
    if existing is not None:
        return existing
    try:
        created = await store.create(new_cluster(spec, etcd_endpoints))
    except AlreadyExists:
        # Another manager created it first: wait until our cache shows it.
        deadline = asyncio.get_running_loop().time() + store.config.sync_timeout
        while (existing := store.cache.by_name(objects_pb2.Cluster, name)) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise StoreUnavailable(
                    f"cluster {name} exists but the cache does not show it"
                ) from None
            await asyncio.sleep(0.02)
        return existing
    await store.wait_for(created.meta.version.index)
    return created
