"""Network routes of the Docker Engine API, plus shoal's overlay-peer extension.

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
import json
from typing import Any

from aiohttp import web

from shoal.engine.api.app import ENGINE_KEY, add, body_json, json_response
from shoal.engine.errors import InvalidArgument

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


async def list_networks(request: web.Request) -> web.Response:
    nets = request.app[ENGINE_KEY].networks
    return json_response(await asyncio.to_thread(nets.list, _filters(request)))


async def inspect(request: web.Request) -> web.Response:
    nets = request.app[ENGINE_KEY].networks
    return json_response(await asyncio.to_thread(nets.inspect, request.match_info["id"]))


def _ipam(body: dict[str, Any]) -> tuple[str | None, str | None]:
    configs = ((body.get("IPAM") or {}).get("Config")) or []
    if len(configs) > 1:
        raise InvalidArgument("only one IPAM config (one IPv4 subnet) per network is supported")
    cfg = configs[0] if configs else {}
    return cfg.get("Subnet") or None, cfg.get("Gateway") or None


async def create(request: web.Request) -> web.Response:
    nets = request.app[ENGINE_KEY].networks
    body = await body_json(request)
    name = body.get("Name")
    if not name or not isinstance(name, str):
        raise InvalidArgument("network name is required (Name)")
    driver = body.get("Driver") or "bridge"
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


async def remove(request: web.Request) -> web.Response:
    nets = request.app[ENGINE_KEY].networks
    await asyncio.to_thread(nets.remove, request.match_info["id"])
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
