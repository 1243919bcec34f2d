"""Build routes of the Docker Engine API: POST /build, /build/prune and /images/prune."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from shoal.engine.api.app import ENGINE_KEY, add, json_line, json_response, qbool, spool_body
from shoal.engine.errors import EngineError, InvalidArgument
from shoal.engine.images.build.builder import Build, BuildOptions
from shoal.engine.images.build.context import BuildContext
from shoal.engine.images.build.prune import prune_build, prune_images
from shoal.engine.images.build.steps import StepFailed

_DISCONNECT_POLL = 0.5


def _json_query(request: web.Request, name: str) -> dict[str, Any]:
    raw = request.query.get(name, "")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"{name}: invalid JSON: {raw!r}") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{name}: want a JSON object, not {raw!r}")
    return value


def _options(request: web.Request) -> BuildOptions:
    q = request.query
    if q.get("remote"):
        raise InvalidArgument("remote build contexts are not supported: send the context tar")
    network = q.get("networkmode", "")
    return BuildOptions(
        tags=q.getall("t", []),
        dockerfile=q.get("dockerfile") or "Dockerfile",
        buildargs={str(k): None if v is None else str(v)
                   for k, v in _json_query(request, "buildargs").items()},
        target=q.get("target", ""),
        nocache=qbool(request, "nocache"),
        labels={str(k): str(v) for k, v in _json_query(request, "labels").items()},
        network="" if network == "default" else network,
        quiet=qbool(request, "q"),
    )


def _error(exc: BaseException) -> dict[str, Any]:
    text = str(exc) if isinstance(exc, EngineError) else f"internal error: {exc!r}"
    detail: dict[str, Any] = {"message": text}
    if isinstance(exc, StepFailed):
        detail["code"] = exc.code
    return {"errorDetail": detail, "error": text}


def _gone(request: web.Request) -> bool:
    t = request.transport
    return t is None or t.is_closing()


async def _stream(request: web.Request, build: Build,
                  finish: Callable[[], Awaitable[None]]) -> web.StreamResponse:
    """Run BUILD, streaming its messages; a client that goes away cancels it.

    FINISH (removing the context) runs before the last message, so a client that
    sees the end of the answer sees the build's leftovers gone.
    """
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    task = asyncio.ensure_future(build.run(queue.put_nowait))
    task.add_done_callback(lambda _t: queue.put_nowait(None))
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        await resp.prepare(request)
        while True:
            try:
                msg = await asyncio.wait_for(queue.get(), _DISCONNECT_POLL)
            except TimeoutError:
                if _gone(request):
                    raise ConnectionResetError("the client went away") from None
                continue
            if msg is None:
                break
            await resp.write(json_line(msg))
    except BaseException:
        task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.shield(asyncio.wait([task]))
        raise
    exc = task.exception()
    await finish()
    if exc is not None:
        await resp.write(json_line(_error(exc)))
    await resp.write_eof()
    return resp


async def build(request: web.Request) -> web.StreamResponse:
    """POST /build: the body is the context tar (maybe compressed)."""
    engine = request.app[ENGINE_KEY]
    opts = _options(request)
    tmp = engine.config.data_root / "tmp"
    spooled = await spool_body(request, tmp, "build-context-")
    ctxdir = tmp / f"build-{secrets.token_hex(8)}"

    async def remove() -> None:
        await asyncio.to_thread(shutil.rmtree, ctxdir, True)

    def extract() -> BuildContext:
        with open(spooled, "rb") as f:
            return BuildContext.from_tar(f, ctxdir, opts.dockerfile)

    try:
        ctx = await asyncio.to_thread(extract)
        spooled.unlink()
        b = await asyncio.to_thread(engine.builder.prepare, ctx, opts)
        return await _stream(request, b, remove)
    finally:
        spooled.unlink(missing_ok=True)
        await remove()


def _in_use(engine: Any) -> Any:
    def in_use(image_id: str) -> Any:
        return next((c.Id for c in engine.containers.list(all=True) if c.Image == image_id),
                    None)

    return in_use


async def build_prune(request: web.Request) -> web.Response:
    """POST /build/prune: empty the build cache and drop the build's unused images."""
    engine = request.app[ENGINE_KEY]
    out = await asyncio.to_thread(prune_build, engine.images, engine.snapshots,
                                  engine.build_cache, _in_use(engine))
    return json_response(out)


async def images_prune(request: web.Request) -> web.Response:
    """POST /images/prune?filters={"dangling":["false"]}: remove unused images."""
    engine = request.app[ENGINE_KEY]
    filters = _json_query(request, "filters")
    dangling = filters.get("dangling") or ["true"]
    if isinstance(dangling, dict):
        dangling = [k for k, v in dangling.items() if v]
    all_images = any(str(v).lower() in ("false", "0") for v in dangling)
    out = await asyncio.to_thread(prune_images, engine.images, engine.snapshots,
                                  _in_use(engine), all_images)
    return json_response(out)


def register(app: web.Application) -> None:
    add(app, "POST", "/build", build)
    add(app, "POST", "/build/prune", build_prune)
    add(app, "POST", "/images/prune", images_prune)
