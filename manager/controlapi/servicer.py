"""The Control gRPC service (control.proto): parse, call ControlService, map errors.

Every manager serves it; AuthInterceptor (manager/ca/tls.py) lets managers
only through. Errors become gRPC codes here and nowhere else.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from shoal.manager.ca.tls import peer_identity
from shoal.manager.controlapi.errors import (
    ControlError,
    FailedPrecondition,
    InvalidArgument,
    Unimplemented,
)
from shoal.manager.controlapi.service import ControlService
from shoal.manager.store import (
    AlreadyExists,
    InvalidObject,
    NotFound,
    Store,
    StoreError,
    StoreUnavailable,
    VersionConflict,
)
from shoal.proto.shoal.v1 import control_pb2 as pb
from shoal.proto.shoal.v1 import control_pb2_grpc

log = logging.getLogger(__name__)

_CODES: list[tuple[type[Exception], grpc.StatusCode]] = [
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (VersionConflict, grpc.StatusCode.ABORTED),
    (InvalidObject, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (Unimplemented, grpc.StatusCode.UNIMPLEMENTED),
    (StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
]

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]


def status_of(exc: Exception) -> grpc.StatusCode:
    """Return the gRPC code of a Control API or store error."""
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


def _rpc(method: Handler[Req, Resp]) -> Handler[Req, Resp]:
    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await method(self, request, context)
        except (ControlError, StoreError) as exc:
            code = status_of(exc)
            if code == grpc.StatusCode.INTERNAL:
                log.exception("%s failed", method.__name__)
            await context.abort(code, str(exc))
            raise  # unreachable: abort raises

    return wrapper


class ControlServicer(control_pb2_grpc.ControlServicer):
    """The gRPC face of ControlService."""

    def __init__(self, store: Store, cluster_id: str) -> None:
        self.service = ControlService(store, cluster_id)

    # Nodes.

    @_rpc
    async def GetNode(self, request: pb.GetNodeRequest, context: Any) -> pb.GetNodeResponse:
        return pb.GetNodeResponse(node=self.service.get_node(request.node_id))

    @_rpc
    async def ListNodes(self, request: pb.ListNodesRequest, context: Any) -> pb.ListNodesResponse:
        nodes = self.service.list_nodes(request.filters, request.roles, request.availabilities)
        return pb.ListNodesResponse(nodes=nodes)

    @_rpc
    async def UpdateNode(
        self, request: pb.UpdateNodeRequest, context: Any
    ) -> pb.UpdateNodeResponse:
        node = await self.service.update_node(
            request.node_id, request.node_version.index, request.spec
        )
        return pb.UpdateNodeResponse(node=node)

    @_rpc
    async def RemoveNode(
        self, request: pb.RemoveNodeRequest, context: Any
    ) -> pb.RemoveNodeResponse:
        caller = peer_identity(context)
        await self.service.remove_node(
            request.node_id, force=request.force, caller=caller.node_id if caller else ""
        )
        return pb.RemoveNodeResponse()

    # Services.

    @_rpc
    async def GetService(
        self, request: pb.GetServiceRequest, context: Any
    ) -> pb.GetServiceResponse:
        return pb.GetServiceResponse(service=self.service.get_service(request.service_id))

    @_rpc
    async def ListServices(
        self, request: pb.ListServicesRequest, context: Any
    ) -> pb.ListServicesResponse:
        services = self.service.list_services(request.filters, request.modes)
        return pb.ListServicesResponse(services=services)

    @_rpc
    async def CreateService(
        self, request: pb.CreateServiceRequest, context: Any
    ) -> pb.CreateServiceResponse:
        return pb.CreateServiceResponse(service=await self.service.create_service(request.spec))

    @_rpc
    async def UpdateService(
        self, request: pb.UpdateServiceRequest, context: Any
    ) -> pb.UpdateServiceResponse:
        svc = await self.service.update_service(
            request.service_id,
            request.service_version.index,
            request.spec if request.HasField("spec") else None,
            rollback=request.rollback,
        )
        return pb.UpdateServiceResponse(service=svc)

    @_rpc
    async def RemoveService(
        self, request: pb.RemoveServiceRequest, context: Any
    ) -> pb.RemoveServiceResponse:
        await self.service.remove_service(request.service_id)
        return pb.RemoveServiceResponse()

    # Tasks.

    @_rpc
    async def GetTask(self, request: pb.GetTaskRequest, context: Any) -> pb.GetTaskResponse:
        return pb.GetTaskResponse(task=self.service.get_task(request.task_id))

    @_rpc
    async def ListTasks(self, request: pb.ListTasksRequest, context: Any) -> pb.ListTasksResponse:
        tasks = self.service.list_tasks(
            request.filters, request.service_ids, request.node_ids, request.desired_states
        )
        return pb.ListTasksResponse(tasks=tasks)

    @_rpc
    async def RemoveTask(
        self, request: pb.RemoveTaskRequest, context: Any
    ) -> pb.RemoveTaskResponse:
        await self.service.remove_task(request.task_id)
        return pb.RemoveTaskResponse()

    # Networks.

    @_rpc
    async def GetNetwork(
        self, request: pb.GetNetworkRequest, context: Any
    ) -> pb.GetNetworkResponse:
        return pb.GetNetworkResponse(network=self.service.get_network(request.network_id))

    @_rpc
    async def ListNetworks(
        self, request: pb.ListNetworksRequest, context: Any
    ) -> pb.ListNetworksResponse:
        return pb.ListNetworksResponse(networks=self.service.list_networks(request.filters))

    @_rpc
    async def CreateNetwork(
        self, request: pb.CreateNetworkRequest, context: Any
    ) -> pb.CreateNetworkResponse:
        return pb.CreateNetworkResponse(network=await self.service.create_network(request.spec))

    @_rpc
    async def RemoveNetwork(
        self, request: pb.RemoveNetworkRequest, context: Any
    ) -> pb.RemoveNetworkResponse:
        await self.service.remove_network(request.network_id)
        return pb.RemoveNetworkResponse()

    # Secrets.

    @_rpc
    async def GetSecret(self, request: pb.GetSecretRequest, context: Any) -> pb.GetSecretResponse:
        return pb.GetSecretResponse(secret=self.service.get_secret(request.secret_id))

    @_rpc
    async def ListSecrets(
        self, request: pb.ListSecretsRequest, context: Any
    ) -> pb.ListSecretsResponse:
        return pb.ListSecretsResponse(secrets=self.service.list_secrets(request.filters))

    @_rpc
    async def CreateSecret(
        self, request: pb.CreateSecretRequest, context: Any
    ) -> pb.CreateSecretResponse:
        return pb.CreateSecretResponse(secret=await self.service.create_secret(request.spec))

    @_rpc
    async def UpdateSecret(
        self, request: pb.UpdateSecretRequest, context: Any
    ) -> pb.UpdateSecretResponse:
        secret = await self.service.update_secret(
            request.secret_id, request.secret_version.index, request.spec
        )
        return pb.UpdateSecretResponse(secret=secret)

    @_rpc
    async def RemoveSecret(
        self, request: pb.RemoveSecretRequest, context: Any
    ) -> pb.RemoveSecretResponse:
        await self.service.remove_secret(request.secret_id)
        return pb.RemoveSecretResponse()

    # Configs.

    @_rpc
    async def GetConfig(self, request: pb.GetConfigRequest, context: Any) -> pb.GetConfigResponse:
        return pb.GetConfigResponse(config=self.service.get_config(request.config_id))

    @_rpc
    async def ListConfigs(
        self, request: pb.ListConfigsRequest, context: Any
    ) -> pb.ListConfigsResponse:
        return pb.ListConfigsResponse(configs=self.service.list_configs(request.filters))

    @_rpc
    async def CreateConfig(
        self, request: pb.CreateConfigRequest, context: Any
    ) -> pb.CreateConfigResponse:
        return pb.CreateConfigResponse(config=await self.service.create_config(request.spec))

    @_rpc
    async def UpdateConfig(
        self, request: pb.UpdateConfigRequest, context: Any
    ) -> pb.UpdateConfigResponse:
        config = await self.service.update_config(
            request.config_id, request.config_version.index, request.spec
        )
        return pb.UpdateConfigResponse(config=config)

    @_rpc
    async def RemoveConfig(
        self, request: pb.RemoveConfigRequest, context: Any
    ) -> pb.RemoveConfigResponse:
        await self.service.remove_config(request.config_id)
        return pb.RemoveConfigResponse()

    # Cluster.

    @_rpc
    async def GetCluster(
        self, request: pb.GetClusterRequest, context: Any
    ) -> pb.GetClusterResponse:
        return pb.GetClusterResponse(cluster=self.service.get_cluster(request.cluster_id))

    @_rpc
    async def ListClusters(
        self, request: pb.ListClustersRequest, context: Any
    ) -> pb.ListClustersResponse:
        return pb.ListClustersResponse(clusters=self.service.list_clusters(request.filters))

    @_rpc
    async def UpdateCluster(
        self, request: pb.UpdateClusterRequest, context: Any
    ) -> pb.UpdateClusterResponse:
        cluster = await self.service.update_cluster(
            request.cluster_id,
            request.cluster_version.index,
            request.spec,
            rotate_worker_token=request.rotation.worker_join_token,
            rotate_manager_token=request.rotation.manager_join_token,
        )
        return pb.UpdateClusterResponse(cluster=cluster)

    @_rpc
    async def GetJoinTokens(
        self, request: pb.GetJoinTokensRequest, context: Any
    ) -> pb.GetJoinTokensResponse:
        return pb.GetJoinTokensResponse(join_tokens=self.service.get_join_tokens())
