"""The aiohttp application: Docker Engine API routes over the engine facade.

Every route answers at both `/PATH` and `/v{version}/PATH`, like dockerd.
Handlers are thin: parse, call the engine, map errors (api/errors.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from shoal import API_VERSION, __version__
from shoal.engine.api.errors import http_status
from shoal.engine.errors import EngineError, InvalidArgument

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ENGINE_KEY: web.AppKey[Any] = web.AppKey("engine", object)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


def json_line(data: dict[str, Any]) -> bytes:
    """Return DATA as one line of a JSON message stream (pull, push, load, build)."""
    return json.dumps(data).encode() + b"\n"


async def spool_body(request: web.Request, directory: Path, prefix: str) -> Path:
    """Write the request body to a new file in DIRECTORY (images and contexts can be large)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.content.iter_chunked(1 << 20):
                await asyncio.to_thread(f.write, chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def error_response(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status=status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn engine errors into Docker-style JSON errors; never leak a stack trace."""
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400:
            msg = "page not found" if exc.status == 404 else (exc.text or exc.reason)
            return error_response(exc.status, msg)
        raise
    except EngineError as exc:
        status = http_status(exc)
        if status == 304:
            return web.Response(status=304)
        return error_response(status, str(exc))
    except Exception as exc:  # the boundary: log it, answer a message
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}")
    resp.headers.setdefault("Api-Version", API_VERSION)
    resp.headers.setdefault("Server", f"shoal/{__version__}")
    return resp


def add(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Register HANDLER at PATH and at /v{version}PATH."""
    app.router.add_route(method, path, handler)
    app.router.add_route(method, r"/v{version:[0-9]+\.[0-9]+}" + path, handler)


def qbool(request: web.Request, name: str, default: bool = False) -> bool:
    v = request.query.get(name)
    if v is None or v == "":
        return default
    return v.lower() not in ("0", "false", "no")


def qint(request: web.Request, name: str, default: int | None = None) -> int | None:
    v = request.query.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name!r}: {v!r} is not an integer") from None


async def body_json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON body: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidArgument("invalid JSON body: expected an object")
    return data


def make_app(engine: Any) -> web.Application:
    """Return the aiohttp app serving ENGINE."""
    from shoal.engine.api import (
        routes_build,
        routes_containers,
        routes_execs,
        routes_images,
        routes_networks,
        routes_swarm,
        routes_system,
        routes_volumes,
    )

    app = web.Application(middlewares=[errors_middleware], client_max_size=0)
    app[ENGINE_KEY] = engine
    for mod in (routes_system, routes_containers, routes_execs, routes_images, routes_networks,
                routes_volumes, routes_swarm, routes_build):
        mod.register(app)
    return app
