"""Container routes of the Docker Engine API."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from shoal.engine.api.app import ENGINE_KEY, add, body_json, json_response, qbool, qint
from shoal.engine.api.bridge import pump
from shoal.engine.api.hijack import hijack, wants_upgrade
from shoal.engine.api.streams import MULTIPLEXED_STREAM, RAW_STREAM, encode
from shoal.engine.containers.logs import LogOptions
from shoal.engine.containers.views import parse_time
from shoal.engine.errors import InvalidArgument


def _filters(request: web.Request) -> dict[str, list[str]]:
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid filters: {raw!r} is not JSON") from None
    out: dict[str, list[str]] = {}
    for key, val in data.items():
        out[key] = list(val.keys()) if isinstance(val, dict) else list(val)
    return out


def _match(c: Any, filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if key == "status" and c.State.Status not in values:
            return False
        if key == "name" and not any(v.lstrip("/") in c.Name for v in values):
            return False
        if key == "id" and not any(c.Id.startswith(v) for v in values):
            return False
        if key == "label":
            labels = c.Config.get("Labels") or {}
            for v in values:
                k, _, want = v.partition("=")
                if k not in labels or (want and labels[k] != want):
                    return False
        if key == "ancestor" and not any(v in (c.ImageRef, c.Image) for v in values):
            return False
    return True


async def list_containers(request: web.Request) -> web.Response:
    svc = request.app[ENGINE_KEY].containers
    filters = _filters(request)
    show_all = qbool(request, "all") or "status" in filters
    items = [c for c in svc.list(all=show_all) if _match(c, filters)]
    limit = qint(request, "limit", -1) or -1
    if limit > 0:
        items = items[:limit]
    return json_response([svc.summary(c) for c in items])


async def create(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    body = await body_json(request)
    c = await engine.containers.create(body, request.query.get("name") or None)
    return json_response({"Id": c.Id, "Warnings": []}, status=201)


async def inspect(request: web.Request) -> web.Response:
    return json_response(request.app[ENGINE_KEY].containers.inspect(request.match_info["id"]))


async def start(request: web.Request) -> web.Response:
    await request.app[ENGINE_KEY].containers.start(request.match_info["id"])
    return web.Response(status=204)


async def stop(request: web.Request) -> web.Response:
    svc = request.app[ENGINE_KEY].containers
    await svc.stop(request.match_info["id"], qint(request, "t"), request.query.get("signal"))
    return web.Response(status=204)


async def restart(request: web.Request) -> web.Response:
    await request.app[ENGINE_KEY].containers.restart(request.match_info["id"], qint(request, "t"))
    return web.Response(status=204)


async def kill(request: web.Request) -> web.Response:
    sig = request.query.get("signal") or "KILL"
    await request.app[ENGINE_KEY].containers.kill(request.match_info["id"], sig)
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    svc = request.app[ENGINE_KEY].containers
    fut = svc.waiter(request.match_info["id"], request.query.get("condition") or "not-running")
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)  # headers now: the client knows the wait is registered
    code = await fut
    await resp.write(json.dumps({"StatusCode": code, "Error": None}).encode() + b"\n")
    await resp.write_eof()
    return resp


async def remove(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    cid = engine.containers.get(request.match_info["id"]).Id
    await engine.containers.remove(cid, force=qbool(request, "force"), volumes=qbool(request, "v"))
    engine.execs.forget_container(cid)
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    svc = request.app[ENGINE_KEY].containers
    deleted = []
    for c in svc.list(all=True):
        if not c.running:
            await svc.remove(c.Id)
            deleted.append(c.Id)
    return json_response({"ContainersDeleted": deleted, "SpaceReclaimed": 0})


async def resize(request: web.Request) -> web.Response:
    h, w = qint(request, "h", 0) or 0, qint(request, "w", 0) or 0
    await request.app[ENGINE_KEY].containers.resize(request.match_info["id"], h, w)
    return web.Response(status=200)


def _log_options(request: web.Request) -> LogOptions:
    tail = request.query.get("tail", "all")
    try:
        tail_n = None if tail in ("all", "") else int(tail)
    except ValueError:
        raise InvalidArgument(f"invalid value for tail: {tail!r}") from None

    def _ts(name: str) -> float:
        v = request.query.get(name)
        if not v:
            return 0.0
        try:
            return float(v)
        except ValueError:
            return parse_time(v)

    return LogOptions(
        stdout=qbool(request, "stdout"), stderr=qbool(request, "stderr"),
        follow=qbool(request, "follow"), timestamps=qbool(request, "timestamps"),
        tail=tail_n, since=_ts("since"), until=_ts("until"),
    )


async def logs(request: web.Request) -> web.StreamResponse:
    opts = _log_options(request)
    if not (opts.stdout or opts.stderr):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    c, lines = request.app[ENGINE_KEY].containers.logs(request.match_info["id"], opts)
    tty = bool(c.Config.get("Tty"))
    resp = web.StreamResponse(
        headers={"Content-Type": RAW_STREAM if tty else MULTIPLEXED_STREAM}
    )
    await resp.prepare(request)
    async for line in lines:
        await resp.write(encode(line.stream, line.data, tty))
    await resp.write_eof()
    return resp


async def attach(request: web.Request) -> web.StreamResponse:
    svc = request.app[ENGINE_KEY].containers
    c = svc.get(request.match_info["id"])
    tty = bool(c.Config.get("Tty"))
    want_stdin = qbool(request, "stdin")
    stdout, stderr = qbool(request, "stdout"), qbool(request, "stderr")
    if want_stdin and not c.Config.get("OpenStdin"):
        want_stdin = False
    ctype = RAW_STREAM if tty else MULTIPLEXED_STREAM
    if not wants_upgrade(request):
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        await resp.prepare(request)
        stream = await svc.attach(c.Id) if qbool(request, "stream", True) else None
        while stream is not None and (item := await stream.read()) is not None:
            fd, data = item
            if (fd == 2 and stderr) or (fd != 2 and stdout):
                await resp.write(encode(fd, data, tty))
        await resp.write_eof()
        return resp
    conn = await hijack(request, ctype)
    if qbool(request, "logs"):
        _c, lines = svc.logs(c.Id, LogOptions(stdout=stdout, stderr=stderr))
        async for line in lines:
            await conn.write(encode(line.stream, line.data, tty))
    stream = await svc.attach(c.Id, stdin=want_stdin) if qbool(request, "stream", True) else None
    if stream is None:
        conn.close()
        return conn.response
    await pump(
        conn, stream, tty=tty, stdin=want_stdin, stdout=stdout, stderr=stderr,
        close_stdin_on_eof=bool(c.Config.get("StdinOnce")),
    )
    return conn.response


def register(app: web.Application) -> None:
    add(app, "GET", "/containers/json", list_containers)
    add(app, "POST", "/containers/create", create)
    add(app, "POST", "/containers/prune", prune)
    add(app, "GET", "/containers/{id}/json", inspect)
    add(app, "POST", "/containers/{id}/start", start)
    add(app, "POST", "/containers/{id}/stop", stop)
    add(app, "POST", "/containers/{id}/restart", restart)
    add(app, "POST", "/containers/{id}/kill", kill)
    add(app, "POST", "/containers/{id}/wait", wait)
    add(app, "POST", "/containers/{id}/resize", resize)
    add(app, "POST", "/containers/{id}/attach", attach)
    add(app, "GET", "/containers/{id}/logs", logs)
    add(app, "DELETE", "/containers/{id}", remove)
