"""What the cluster REST routes need from the daemon: the ClusterBackend protocol.

engine/api/routes_swarm.py finds an object implementing ClusterBackend in
the app (`app[CLUSTER_KEY]`). The daemon's cluster mode implements it: it
joins or leaves a cluster, hands out a Control API client for a manager (its
own when it is one), and gathers service logs from the agents. Fakes for the
tests live in tests/manager/dockerapi/fakes.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from shoal.proto.shoal.v1 import control_pb2 as c


class ControlAPI(Protocol):
    """The calls of shoal.v1.Control the routes make; a grpc.aio ControlStub fits.

    Each returns an awaitable (a grpc.aio call) and fails with a grpc.RpcError
    whose code the routes map to an HTTP status (rpc.py).
    """

    def GetNode(self, request: c.GetNodeRequest) -> Awaitable[c.GetNodeResponse]: ...
    def ListNodes(self, request: c.ListNodesRequest) -> Awaitable[c.ListNodesResponse]: ...
    def UpdateNode(self, request: c.UpdateNodeRequest) -> Awaitable[c.UpdateNodeResponse]: ...
    def RemoveNode(self, request: c.RemoveNodeRequest) -> Awaitable[c.RemoveNodeResponse]: ...
    def GetService(self, request: c.GetServiceRequest) -> Awaitable[c.GetServiceResponse]: ...
    def ListServices(
        self, request: c.ListServicesRequest) -> Awaitable[c.ListServicesResponse]: ...
    def CreateService(
        self, request: c.CreateServiceRequest) -> Awaitable[c.CreateServiceResponse]: ...
    def UpdateService(
        self, request: c.UpdateServiceRequest) -> Awaitable[c.UpdateServiceResponse]: ...
    def RemoveService(
        self, request: c.RemoveServiceRequest) -> Awaitable[c.RemoveServiceResponse]: ...
    def GetTask(self, request: c.GetTaskRequest) -> Awaitable[c.GetTaskResponse]: ...
    def GetNetwork(self, request: c.GetNetworkRequest) -> Awaitable[c.GetNetworkResponse]: ...
    def ListNetworks(
        self, request: c.ListNetworksRequest) -> Awaitable[c.ListNetworksResponse]: ...
    def CreateNetwork(
        self, request: c.CreateNetworkRequest) -> Awaitable[c.CreateNetworkResponse]: ...
    def RemoveNetwork(
        self, request: c.RemoveNetworkRequest) -> Awaitable[c.RemoveNetworkResponse]: ...
    def ListTasks(self, request: c.ListTasksRequest) -> Awaitable[c.ListTasksResponse]: ...
    def ListClusters(
        self, request: c.ListClustersRequest) -> Awaitable[c.ListClustersResponse]: ...
    def UpdateCluster(
        self, request: c.UpdateClusterRequest) -> Awaitable[c.UpdateClusterResponse]: ...
    def GetJoinTokens(
        self, request: c.GetJoinTokensRequest) -> Awaitable[c.GetJoinTokensResponse]: ...


@dataclass(frozen=True)
class ServiceLogOptions:
    """Which log lines of a service to send (the query of `GET /services/{id}/logs`)."""

    stdout: bool = True
    stderr: bool = True
    follow: bool = False
    # since is a UNIX time in seconds; 0 means from the first line kept.
    since: float = 0.0
    # timestamps asks for each line to start with its RFC3339Nano time and a space.
    timestamps: bool = False
    # tail is how many of the last lines of each task to send; None sends all.
    tail: int | None = None
    # details asks for Docker's "com.docker.swarm.node.id=...,com.docker.swarm.service.id=...,
    # com.docker.swarm.task.id=... " prefix on each line.
    details: bool = False


class ClusterBackend(Protocol):
    """The daemon's cluster side, as the Docker API routes see it.

    init/join/leave raise errors.AlreadyInSwarm / errors.NotInSwarm
    (NOT_PART_OF_SWARM for leave) and shoal.engine.errors.InvalidArgument for
    bad addresses or tokens; control() raises errors.NotInSwarm on a node in
    no cluster and errors.NotManager on a worker.
    """

    async def init(self, req: dict[str, Any]) -> str:
        """Start a new cluster with this node as its first manager; return the node's ID.

        REQ is Docker's SwarmInitRequest, checked and with every key present:
        ListenAddr, AdvertiseAddr, DataPathAddr (str), DataPathPort, SubnetSize
        (int), DefaultAddrPool (list of str), ForceNewCluster (bool),
        Availability ("active"|"pause"|"drain") and Spec (Docker's SwarmSpec
        JSON; swarm.cluster_spec_from_json(req["Spec"]) gives the ClusterSpec).
        """
        ...

    async def join(self, req: dict[str, Any]) -> None:
        """Join the cluster at REQ["RemoteAddrs"] with REQ["JoinToken"].

        REQ is Docker's SwarmJoinRequest, checked and with every key present:
        ListenAddr, AdvertiseAddr, DataPathAddr, JoinToken (str), RemoteAddrs
        (non-empty list of str), Availability.
        """
        ...

    async def leave(self, force: bool) -> None:
        """Leave the cluster (a manager only with FORCE)."""
        ...

    def control(self) -> ControlAPI:
        """Return a Control API client on a manager (this node's own when it is one)."""
        ...

    def service_logs(self, service_id: str,
                     opts: ServiceLogOptions) -> AsyncIterator[tuple[int, bytes]]:
        """Yield (stream, line) of the service's tasks: stream 1 stdout, 2 stderr.

        An async generator. Each line is sent as given, so it already carries
        the timestamp and details prefixes OPTS asks for; with opts.follow it
        runs until the client goes away (the route then closes it).
        """
        ...
