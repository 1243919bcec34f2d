"""Image routes of the Docker Engine API (import, pull, push, auth, load, save, list, ...)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from shoal.engine.api.app import (
    ENGINE_KEY,
    add,
    body_json,
    json_line,
    json_response,
    qbool,
    spool_body,
)
from shoal.engine.errors import EngineError, InvalidArgument
from shoal.engine.images.registry import credentials
from shoal.engine.images.registry import progress as pg

Job = Callable[[pg.Emit], Awaitable[Any]]


async def _progress(request: web.Request, job: Job) -> web.StreamResponse:
    """Run JOB, streaming the messages it emits as Docker's JSON lines.

    The status line is sent with the first message: an error raised before it
    (bad credentials, unknown manifest) is an HTTP error status; one raised
    later is an "errorDetail" message, as dockerd does.
    """
    queue: asyncio.Queue[pg.Message | None] = asyncio.Queue()
    task = asyncio.ensure_future(job(queue.put_nowait))
    task.add_done_callback(lambda _t: queue.put_nowait(None))
    try:
        msg = await queue.get()
        if msg is None:
            task.result()
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        while msg is not None:
            await resp.write(json_line(msg))
            msg = await queue.get()
        exc = task.exception()
    except BaseException:
        task.cancel()
        raise
    if exc is not None:
        text = str(exc) if isinstance(exc, EngineError) else f"internal error: {exc!r}"
        await resp.write(json_line(pg.error(text)))
    await resp.write_eof()
    return resp


def _pull_reference(q: Any) -> str:
    image, tag = q.get("fromImage", ""), q.get("tag", "")
    if not tag or "@" in image:
        return str(image)
    if ":" in tag:  # a digest
        return f"{image}@{tag}"
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        raise InvalidArgument(f"fromImage {image!r} already has a tag; tag={tag!r} conflicts")
    return f"{image}:{tag}"


async def pull(request: web.Request) -> web.StreamResponse:
    """POST /images/create?fromImage=NAME&tag=TAG|DIGEST: pull from a registry."""
    engine = request.app[ENGINE_KEY]
    platform = request.query.get("platform", "")
    if platform and platform not in ("linux/amd64", "linux"):
        raise InvalidArgument(f"platform {platform!r} is not supported (linux/amd64 only)")
    ref = _pull_reference(request.query)
    creds = credentials.from_header(request.headers.get("X-Registry-Auth"))
    return await _progress(request, lambda emit: engine.registry.pull(ref, creds, emit))


async def push(request: web.Request) -> web.StreamResponse:
    """POST /images/{name}/push?tag=TAG: push to a registry (every tag when TAG is empty)."""
    engine = request.app[ENGINE_KEY]
    name, tag = request.match_info["name"], request.query.get("tag", "")
    creds = credentials.from_header(request.headers.get("X-Registry-Auth"))
    engine.registry.push_targets(name, tag)  # 404/400 before any byte is sent
    return await _progress(request, lambda emit: engine.registry.push(name, tag, creds, emit))


async def auth(request: web.Request) -> web.Response:
    """POST /auth: check credentials against their registry (docker login)."""
    creds = credentials.from_dict(await body_json(request))
    status = await request.app[ENGINE_KEY].registry.login(creds)
    return json_response({"Status": status, "IdentityToken": ""})


async def create(request: web.Request) -> web.StreamResponse:
    """POST /images/create: `fromImage` pulls; `fromSrc=-` imports a rootfs tarball."""
    engine = request.app[ENGINE_KEY]
    q = request.query
    if q.get("fromImage"):
        return await pull(request)
    src = q.get("fromSrc")
    if src != "-":
        raise InvalidArgument("only fromSrc=- (the request body) is supported for import")
    repo, tag = q.get("repo", ""), q.get("tag", "")
    ref = None
    if repo:
        ref = f"{repo}:{tag}" if tag and "@" not in repo else repo
    changes = q.getall("changes", [])
    path = await spool_body(request, engine.config.data_root / "tmp", "upload-")
    try:
        img = await asyncio.to_thread(
            engine.images.import_rootfs, path, ref, changes, q.get("message", "")
        )
    finally:
        path.unlink(missing_ok=True)
    return web.Response(body=json_line({"status": img.id}), content_type="application/json")


async def load(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    path = await spool_body(request, engine.config.data_root / "tmp", "upload-")
    try:
        images = await asyncio.to_thread(engine.images.load, path)
    finally:
        path.unlink(missing_ok=True)
    out = b""
    for img in images:
        names = img.repo_tags or [img.id]
        for n in names:
            what = "Loaded image" if n in img.repo_tags else "Loaded image ID"
            out += json_line({"stream": f"{what}: {n}\n"})
    return web.Response(body=out, content_type="application/json")


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    engine = request.app[ENGINE_KEY]
    if not names:
        raise InvalidArgument("no image names given to save")
    fmt = request.query.get("format", "docker")
    if fmt not in ("docker", "oci"):
        raise InvalidArgument(f"unknown save format {fmt!r} (docker or oci)")
    for n in names:
        engine.images.get(n)  # 404 before any byte is sent
    tmpdir = engine.config.data_root / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmpdir, prefix="save-")
    os.close(fd)
    try:
        await asyncio.to_thread(engine.images.save, names, Path(name), fmt)
        resp = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        await resp.prepare(request)
        with open(name, "rb") as f:
            while chunk := await asyncio.to_thread(f.read, 1 << 20):
                await resp.write(chunk)
        await resp.write_eof()
        return resp
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


async def save_many(request: web.Request) -> web.StreamResponse:
    return await _save(request, request.query.getall("names", []))


async def save_one(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def list_images(request: web.Request) -> web.Response:
    images = request.app[ENGINE_KEY].images
    shown = images.list_top(qbool(request, "all"))  # intermediate build images with all=1
    return json_response([images.summary_json(i) for i in shown])


async def inspect(request: web.Request) -> web.Response:
    images = request.app[ENGINE_KEY].images
    return json_response(images.inspect_json(images.get(request.match_info["name"])))


async def history(request: web.Request) -> web.Response:
    images = request.app[ENGINE_KEY].images
    return json_response(images.history(images.get(request.match_info["name"])))


async def tag(request: web.Request) -> web.Response:
    images = request.app[ENGINE_KEY].images
    repo, t = request.query.get("repo", ""), request.query.get("tag", "")
    if not repo:
        raise InvalidArgument("repository name is required to tag an image")
    images.tag(request.match_info["name"], f"{repo}:{t}" if t else repo)
    return web.Response(status=201)


async def remove(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]

    def in_use(image_id: str) -> bool:
        return any(c.Image == image_id for c in engine.containers.list(all=True))

    result = await asyncio.to_thread(
        engine.images.remove, request.match_info["name"], qbool(request, "force"), in_use
    )
    return json_response(result)


def register(app: web.Application) -> None:
    add(app, "GET", "/images/json", list_images)
    add(app, "POST", "/images/create", create)
    add(app, "POST", "/images/load", load)
    add(app, "GET", "/images/get", save_many)
    add(app, "GET", "/images/{name:.+}/json", inspect)
    add(app, "GET", "/images/{name:.+}/history", history)
    add(app, "GET", "/images/{name:.+}/get", save_one)
    add(app, "POST", "/images/{name:.+}/tag", tag)
    add(app, "POST", "/images/{name:.+}/push", push)
    add(app, "POST", "/auth", auth)
    add(app, "DELETE", "/images/{name:.+}", remove)
