"""Volume routes of the Docker Engine API."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from shoal.engine.api.app import ENGINE_KEY, add, body_json, json_response
from shoal.engine.errors import InvalidArgument


def _filters(request: web.Request) -> dict[str, list[str]]:
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid filters: {raw!r} is not JSON") from None
    return {k: list(v.keys()) if isinstance(v, dict) else list(v) for k, v in data.items()}


async def list_volumes(request: web.Request) -> web.Response:
    vols = request.app[ENGINE_KEY].volumes
    items = await asyncio.to_thread(vols.list, _filters(request))
    return json_response({"Volumes": [vols.inspect_json(v) for v in items], "Warnings": []})


async def create(request: web.Request) -> web.Response:
    vols = request.app[ENGINE_KEY].volumes
    b = await body_json(request)
    v = await asyncio.to_thread(vols.create, b.get("Name") or None, b.get("Driver") or "local",
                                b.get("Labels") or None, b.get("DriverOpts") or None)
    return json_response(vols.inspect_json(v), status=201)


async def inspect(request: web.Request) -> web.Response:
    vols = request.app[ENGINE_KEY].volumes
    v = await asyncio.to_thread(vols.get, request.match_info["name"])
    return json_response(vols.inspect_json(v))


async def remove(request: web.Request) -> web.Response:
    vols = request.app[ENGINE_KEY].volumes
    force = request.query.get("force", "") in ("1", "true", "True")
    await asyncio.to_thread(vols.remove, request.match_info["name"], force)
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    vols = request.app[ENGINE_KEY].volumes
    filters = _filters(request)
    version = request.match_info.get("version")
    if version and tuple(int(x) for x in version.split(".")) < (1, 42):
        filters.setdefault("all", ["true"])  # before 1.42, prune removed named volumes too
    names, space = await asyncio.to_thread(vols.prune, filters)
    return json_response({"VolumesDeleted": names, "SpaceReclaimed": space})


def register(app: web.Application) -> None:
    add(app, "GET", "/volumes", list_volumes)
    add(app, "POST", "/volumes/create", create)
    add(app, "POST", "/volumes/prune", prune)
    add(app, "GET", "/volumes/{name}", inspect)
    add(app, "DELETE", "/volumes/{name}", remove)
