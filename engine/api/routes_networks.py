"""Network routes of the Docker Engine API, plus shoal's overlay-peer extension.

Cluster networks: on a cluster manager, `POST /networks/create` with Driver
"overlay" (or Scope "swarm") creates a cluster Network through the Control API
(the manager allocates its subnet and VNI) and `GET /networks`, `GET
/networks/{id}` and `DELETE /networks/{id}` cover cluster networks too (Scope
"swarm"); a local network backing a cluster network on this host (made by the
agent, agent/exec/networks.py) is shown as that cluster network. On a worker
an overlay create answers 503 (cluster state lives on managers) and backing
networks are listed as their cluster networks. Outside a cluster, overlay
creation is local (below).

Extension (the agent programs overlays through it; Docker has no equivalent):
  POST   /networks/{id}/peers            {"Vtep": "10.0.0.2"}
  DELETE /networks/{id}/peers/{vtep}
  POST   /networks/{id}/endpoints        {"IP", "MAC", "Vtep", "Name", "Aliases"}
  DELETE /networks/{id}/endpoints/{ip}
An overlay is created with POST /networks/create {"Driver": "overlay",
"Options": {"com.docker.network.driver.overlay.vxlanid_list": "4097"}, "IPAM": ...}.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import grpc
from aiohttp import web

from shoal.engine.api.app import ENGINE_KEY, Handler, add, body_json, error_response, json_response
from shoal.engine.errors import Conflict, InvalidArgument, NotFound
from shoal.manager.dockerapi import lookup
from shoal.manager.dockerapi import networks as swarmnet
from shoal.manager.dockerapi.backend import ControlAPI
from shoal.manager.dockerapi.errors import ClusterAPIError, NotInSwarm, NotManager
from shoal.manager.dockerapi.rpc import http_error
from shoal.proto.shoal.v1 import control_pb2 as c

VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


def _filters(request: web.Request) -> dict[str, list[str]]:
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid filters: {raw!r} is not JSON") from None
    return {k: list(v.keys()) if isinstance(v, dict) else list(v) for k, v in data.items()}


def _mapped(handler: Handler) -> Handler:
    """Answer the cluster's errors as Docker does (503 off-manager, gRPC codes mapped)."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ClusterAPIError as exc:
            return error_response(exc.status, str(exc))
        except grpc.RpcError as exc:
            status, message = http_error(exc)
            return error_response(status, message)

    return wrapper


def _role(request: web.Request) -> tuple[str, ControlAPI | None]:
    """Return ("manager", control), ("worker", None) or ("", None) outside a cluster."""
    from shoal.engine.api.routes_swarm import CLUSTER_KEY

    backend = request.app.get(CLUSTER_KEY)
    if backend is None:
        return "", None
    try:
        return "manager", backend.control()
    except NotManager:
        return "worker", None
    except NotInSwarm:
        return "", None


def _exact(local: dict[str, Any] | None, ref: str) -> bool:
    return local is not None and ref in (local["Id"], local["Name"])


async def _local(request: web.Request, ref: str) -> dict[str, Any] | None:
    nets = request.app[ENGINE_KEY].networks
    try:
        return await asyncio.to_thread(nets.inspect, ref)
    except NotFound:
        return None


async def _cluster_network(control: ControlAPI, ref: str) -> Any | None:
    try:
        return await lookup.get_network(control, ref)
    except NotFound:
        return None


@_mapped
async def list_networks(request: web.Request) -> web.Response:
    nets = request.app[ENGINE_KEY].networks
    filters = _filters(request)
    role, control = _role(request)
    if not role:
        return json_response(await asyncio.to_thread(nets.list, filters))
    scopes = set(filters.get("scope") or ["local", "swarm"])
    every = await asyncio.to_thread(nets.list)
    out: list[dict[str, Any]] = []
    if "local" in scopes:
        out = [n for n in await asyncio.to_thread(nets.list, filters) if not swarmnet.backs(n)]
    if "swarm" in scopes:
        if control is not None:
            resp = await control.ListNetworks(c.ListNetworksRequest())
            swarm = [swarmnet.with_local_containers(swarmnet.network_to_resource(n), every)
                     for n in resp.networks]
        else:
            swarm = [swarmnet.backing_as_swarm(n) for n in every if swarmnet.backs(n)]
        out += [n for n in swarm if swarmnet.matches(n, filters)]
    return json_response(out)


@_mapped
async def inspect(request: web.Request) -> web.Response:
    ref = request.match_info["id"]
    local = await _local(request, ref)
    if _exact(local, ref) and local is not None and not swarmnet.backs(local):
        return json_response(local)
    _role_name, control = _role(request)
    if control is not None:
        net = await _cluster_network(control, ref)
        if net is not None:
            nets = request.app[ENGINE_KEY].networks
            every = await asyncio.to_thread(nets.list)
            return json_response(swarmnet.with_local_containers(
                swarmnet.network_to_resource(net), every))
    if local is None:
        raise NotFound(f"network {ref} not found")
    return json_response(swarmnet.backing_as_swarm(local) if swarmnet.backs(local) else local)


def _ipam(body: dict[str, Any]) -> tuple[str | None, str | None]:
    configs = ((body.get("IPAM") or {}).get("Config")) or []
    if len(configs) > 1:
        raise InvalidArgument("only one IPAM config (one IPv4 subnet) per network is supported")
    cfg = configs[0] if configs else {}
    return cfg.get("Subnet") or None, cfg.get("Gateway") or None


async def _create_cluster_network(request: web.Request, control: ControlAPI,
                                  body: dict[str, Any]) -> web.Response:
    name = str(body["Name"])
    local = await _local(request, name)
    if local is not None and local["Name"] == name and not swarmnet.backs(local):
        raise Conflict(f"network with name {name} already exists")
    spec = swarmnet.network_spec_from_create(body, "NetworkCreateRequest")
    resp = await control.CreateNetwork(c.CreateNetworkRequest(spec=spec))
    return json_response({"Id": resp.network.id, "Warning": ""}, status=201)


@_mapped
async def create(request: web.Request) -> web.Response:
    nets = request.app[ENGINE_KEY].networks
    body = await body_json(request)
    name = body.get("Name")
    if not name or not isinstance(name, str):
        raise InvalidArgument("network name is required (Name)")
    driver = body.get("Driver") or "bridge"
    role, control = _role(request)
    if driver == "overlay" or body.get("Scope") == "swarm":
        if control is not None:
            return await _create_cluster_network(request, control, body)
        if role == "worker":
            raise NotManager()
    elif control is not None:
        try:
            taken = await lookup.get_network(control, name)
        except NotFound:
            taken = None
        if taken is not None and taken.spec.annotations.name == name:
            raise Conflict(f"network with name {name} already exists")
    subnet, gateway = _ipam(body)
    options = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
    labels = body.get("Labels") or {}
    if driver == "overlay":
        vni_text = options.get(VNI_OPTION, "")
        if not vni_text.isdigit():
            raise InvalidArgument(f"an overlay network needs option {VNI_OPTION}=<VNI>")
        if not subnet:
            raise InvalidArgument("an overlay network needs a subnet (IPAM.Config[0].Subnet)")
        n = await asyncio.to_thread(
            nets.create_overlay, name, int(vni_text), subnet, gateway, 0, labels, options
        )
    else:
        n = await asyncio.to_thread(
            nets.create, name, driver, subnet, gateway, bool(body.get("Internal")),
            bool(body.get("Attachable")), labels, options,
        )
    return json_response({"Id": n.id, "Warning": ""}, status=201)


@_mapped
async def remove(request: web.Request) -> web.Response:
    nets = request.app[ENGINE_KEY].networks
    ref = request.match_info["id"]
    local = await _local(request, ref)
    if not (_exact(local, ref) and local is not None and not swarmnet.backs(local)):
        role, control = _role(request)
        if control is not None:
            net = await _cluster_network(control, ref)
            if net is not None:
                await control.RemoveNetwork(c.RemoveNetworkRequest(network_id=net.id))
                return web.Response(status=204)
        if role == "worker" and local is not None and swarmnet.backs(local):
            raise NotManager()  # a worker cannot remove a cluster network
    if local is None:
        raise NotFound(f"network {ref} not found")
    await asyncio.to_thread(nets.remove, local["Id"])
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    nets = request.app[ENGINE_KEY].networks
    removed = await asyncio.to_thread(nets.prune, _filters(request))
    return json_response({"NetworksDeleted": removed})


async def connect(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    body = await body_json(request)
    ref = body.get("Container")
    if not ref:
        raise InvalidArgument("Container is required")
    await engine.containers.connect(request.match_info["id"], ref, body.get("EndpointConfig") or {})
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    body = await body_json(request)
    ref = body.get("Container")
    if not ref:
        raise InvalidArgument("Container is required")
    await engine.containers.disconnect(request.match_info["id"], ref, bool(body.get("Force")))
    return web.Response(status=200)


async def add_peer(request: web.Request) -> web.Response:
    nets = request.app[ENGINE_KEY].networks
    body = await body_json(request)
    await asyncio.to_thread(nets.add_peer, request.match_info["id"], str(body.get("Vtep", "")))
    return web.Response(status=204)


async def remove_peer(request: web.Request) -> web.Response:
    nets = request.app[ENGINE_KEY].networks
    await asyncio.to_thread(nets.remove_peer, request.match_info["id"], request.match_info["vtep"])
    return web.Response(status=204)


async def add_endpoint(request: web.Request) -> web.Response:
    nets = request.app[ENGINE_KEY].networks
    b = await body_json(request)
    for key in ("IP", "MAC", "Vtep"):
        if not b.get(key):
            raise InvalidArgument(f"{key} is required for a remote endpoint")
    await asyncio.to_thread(nets.add_endpoint, request.match_info["id"], b["IP"], b["MAC"],
                            b["Vtep"], b.get("Name", ""), b.get("Aliases") or ())
    return web.Response(status=204)


async def remove_endpoint(request: web.Request) -> web.Response:
    nets = request.app[ENGINE_KEY].networks
    await asyncio.to_thread(
        nets.remove_endpoint, request.match_info["id"], request.match_info["ip"]
    )
    return web.Response(status=204)


def register(app: web.Application) -> None:
    add(app, "GET", "/networks", list_networks)
    add(app, "POST", "/networks/create", create)
    add(app, "POST", "/networks/prune", prune)
    add(app, "GET", "/networks/{id}", inspect)
    add(app, "DELETE", "/networks/{id}", remove)
    add(app, "POST", "/networks/{id}/connect", connect)
    add(app, "POST", "/networks/{id}/disconnect", disconnect)
    add(app, "POST", "/networks/{id}/peers", add_peer)
    add(app, "DELETE", "/networks/{id}/peers/{vtep}", remove_peer)
    add(app, "POST", "/networks/{id}/endpoints", add_endpoint)
    add(app, "DELETE", "/networks/{id}/endpoints/{ip}", remove_endpoint)
