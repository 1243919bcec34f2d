"""ControlService: the whole Control API as plain methods, testable without a network."""

from __future__ import annotations

from shoal.manager.controlapi.cluster import ClusterOps
from shoal.manager.controlapi.nodes import NodeOps
from shoal.manager.controlapi.resources import ResourceOps
from shoal.manager.controlapi.services import ServiceOps
from shoal.manager.controlapi.tasks import TaskOps


class ControlService(NodeOps, ServiceOps, TaskOps, ResourceOps, ClusterOps):
    """The Control API's logic over STORE for the cluster CLUSTER_ID.

    Reads come from the store's watch cache; writes go through the store's
    optimistic concurrency and wait until this manager's cache shows them, so
    that a read after a write on the same manager sees it. Errors are the
    store's and errors.py's; servicer.py maps them to gRPC codes.
    """
