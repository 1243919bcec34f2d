"""Find a service, node or task by what a user types: a full ID, a name, or an ID prefix.

The order is dockerd's: the exact ID, then the exact name, then a unique ID
prefix; an ambiguous prefix is a 400 ("service ab is ambiguous (2 matches
found)"), nothing a 404 ("service web not found").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from shoal.engine.errors import InvalidArgument, NotFound
from shoal.manager.dockerapi.backend import ControlAPI
from shoal.manager.dockerapi.rpc import is_not_found
from shoal.proto.shoal.v1 import control_pb2 as c
from shoal.proto.shoal.v1 import objects_pb2

T = TypeVar("T")


async def _find(kind: str, ref: str, get: Callable[[], Awaitable[T]],
                by_name: Callable[[], Awaitable[Sequence[T]]] | None,
                by_prefix: Callable[[], Awaitable[Sequence[T]]],
                name_of: Callable[[T], Sequence[str]], id_of: Callable[[T], str]) -> T:
    if not ref:
        raise InvalidArgument(f"{kind} ID or name is required")
    try:
        return await get()
    except Exception as exc:
        if not is_not_found(exc):
            raise
    if by_name is not None:
        named = [x for x in await by_name() if ref in name_of(x)]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            raise InvalidArgument(f"{kind} {ref} is ambiguous ({len(named)} matches found)")
    found = [x for x in await by_prefix() if id_of(x).startswith(ref)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise InvalidArgument(f"{kind} {ref} is ambiguous ({len(found)} matches found)")
    raise NotFound(f"{kind} {ref} not found")


async def get_service(control: ControlAPI, ref: str) -> objects_pb2.Service:
    """Return the service REF names (ID, name or unique ID prefix)."""

    async def get() -> objects_pb2.Service:
        return (await control.GetService(c.GetServiceRequest(service_id=ref))).service

    async def by_name() -> Sequence[objects_pb2.Service]:
        req = c.ListServicesRequest(filters=c.ListFilters(names=[ref]))
        return (await control.ListServices(req)).services

    async def by_prefix() -> Sequence[objects_pb2.Service]:
        req = c.ListServicesRequest(filters=c.ListFilters(id_prefixes=[ref]))
        return (await control.ListServices(req)).services

    return await _find("service", ref, get, by_name, by_prefix,
                       lambda s: [s.spec.annotations.name], lambda s: s.id)


async def get_node(control: ControlAPI, ref: str) -> objects_pb2.Node:
    """Return the node REF names (ID, name, hostname or unique ID prefix)."""

    async def get() -> objects_pb2.Node:
        return (await control.GetNode(c.GetNodeRequest(node_id=ref))).node

    async def every() -> Sequence[objects_pb2.Node]:
        # a node's name may be its spec name or its hostname: filter here
        return (await control.ListNodes(c.ListNodesRequest())).nodes

    return await _find("node", ref, get, every, every,
                       lambda n: [n.spec.annotations.name, n.description.hostname],
                       lambda n: n.id)


async def get_task(control: ControlAPI, ref: str) -> objects_pb2.Task:
    """Return the task REF names (ID or unique ID prefix)."""

    async def get() -> objects_pb2.Task:
        return (await control.GetTask(c.GetTaskRequest(task_id=ref))).task

    async def by_prefix() -> Sequence[objects_pb2.Task]:
        req = c.ListTasksRequest(filters=c.ListFilters(id_prefixes=[ref]))
        return (await control.ListTasks(req)).tasks

    return await _find("task", ref, get, None, by_prefix, lambda t: [], lambda t: t.id)


async def get_network(control: ControlAPI, ref: str) -> objects_pb2.Network:
    """Return the cluster network REF names (ID, name or unique ID prefix)."""

    async def get() -> objects_pb2.Network:
        return (await control.GetNetwork(c.GetNetworkRequest(network_id=ref))).network

    async def by_name() -> Sequence[objects_pb2.Network]:
        req = c.ListNetworksRequest(filters=c.ListFilters(names=[ref]))
        return (await control.ListNetworks(req)).networks

    async def by_prefix() -> Sequence[objects_pb2.Network]:
        req = c.ListNetworksRequest(filters=c.ListFilters(id_prefixes=[ref]))
        return (await control.ListNetworks(req)).networks

    return await _find("network", ref, get, by_name, by_prefix,
                       lambda n: [n.spec.annotations.name], lambda n: n.id)


async def get_cluster(control: ControlAPI) -> objects_pb2.Cluster:
    """Return the cluster object (there is one)."""
    clusters = (await control.ListClusters(c.ListClustersRequest())).clusters
    if not clusters:
        raise NotFound("no cluster object: the swarm is not initialised yet")
    return clusters[0]
