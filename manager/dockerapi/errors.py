"""Errors of the cluster's Docker API layer (raised by a ClusterBackend, or by the routes).

ClusterAPIError        base: the node's place in a cluster forbids the call    -> HTTP 503
├── NotInSwarm         this node is in no cluster                              -> HTTP 503
├── NotManager         this node is a worker: it holds no cluster state        -> HTTP 503
└── AlreadyInSwarm     init or join on a node already in a cluster             -> HTTP 503

The messages are dockerd's, so that the docker CLI and SDK print what their
users know. Malformed requests raise shoal.engine.errors.InvalidArgument (400)
and unknown objects shoal.engine.errors.NotFound (404); gRPC errors from the
Control API are mapped in rpc.py. All of them become HTTP statuses in
engine/api/routes_swarm.py only (DESIGN.md §8.3).
"""

from __future__ import annotations

NO_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or '
              '"docker swarm join" to connect this node to swarm and try again.')
NOT_PART_OF_SWARM = "This node is not part of a swarm"
WORKER = ("This node is not a swarm manager. Worker nodes can't be used to view or modify "
          "cluster state. Please run this command on a manager node or promote the current "
          "node to a manager.")
ALREADY = ('This node is already part of a swarm. Use "docker swarm leave" to leave this '
           "swarm and join another one.")


class ClusterAPIError(Exception):
    """Base of the errors that say this node cannot serve a cluster call (HTTP 503)."""

    status = 503
    default = "This node cannot serve cluster requests"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.default)


class NotInSwarm(ClusterAPIError):
    """This node is in no cluster (`leave` says NOT_PART_OF_SWARM instead of the default)."""

    default = NO_MANAGER


class NotManager(ClusterAPIError):
    """This node is a worker; cluster state lives on managers."""

    default = WORKER


class AlreadyInSwarm(ClusterAPIError):
    """`init` or `join` on a node that is already in a cluster."""

    default = ALREADY
