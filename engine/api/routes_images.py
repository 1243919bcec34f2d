"""Image routes of the Docker Engine API (import, load, save, list, inspect, tag, remove)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from shoal.engine.api.app import ENGINE_KEY, add, json_response, qbool
from shoal.engine.errors import InvalidArgument, NotFound


async def _spool(request: web.Request, directory: Path) -> Path:
    """Write the request body to a temporary file (images can be large)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix="upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.content.iter_chunked(1 << 20):
                await asyncio.to_thread(f.write, chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _stream_line(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode() + b"\n"


async def create(request: web.Request) -> web.StreamResponse:
    """POST /images/create: `fromSrc=-` imports a rootfs tarball (docker import)."""
    engine = request.app[ENGINE_KEY]
    q = request.query
    if q.get("fromImage"):
        raise NotFound(
            f"pull access denied for {q['fromImage']}: pulling from a registry is not "
            "supported by this engine yet; use `shoal load` or `shoal import`"
        )
    src = q.get("fromSrc")
    if src != "-":
        raise InvalidArgument("only fromSrc=- (the request body) is supported for import")
    repo, tag = q.get("repo", ""), q.get("tag", "")
    ref = None
    if repo:
        ref = f"{repo}:{tag}" if tag and "@" not in repo else repo
    changes = q.getall("changes", [])
    path = await _spool(request, engine.config.data_root / "tmp")
    try:
        img = await asyncio.to_thread(
            engine.images.import_rootfs, path, ref, changes, q.get("message", "")
        )
    finally:
        path.unlink(missing_ok=True)
    return web.Response(body=_stream_line({"status": img.id}), content_type="application/json")


async def load(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    path = await _spool(request, engine.config.data_root / "tmp")
    try:
        images = await asyncio.to_thread(engine.images.load, path)
    finally:
        path.unlink(missing_ok=True)
    out = b""
    for img in images:
        names = img.repo_tags or [img.id]
        for n in names:
            what = "Loaded image" if n in img.repo_tags else "Loaded image ID"
            out += _stream_line({"stream": f"{what}: {n}\n"})
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
    return json_response([images.summary_json(i) for i in images.list()])


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
    add(app, "DELETE", "/images/{name:.+}", remove)
