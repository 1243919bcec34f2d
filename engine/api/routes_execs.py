"""Exec routes: POST /containers/{id}/exec, POST /exec/{id}/start|resize, GET /exec/{id}/json."""

from __future__ import annotations

from aiohttp import web

from shoal.engine.api.app import ENGINE_KEY, add, body_json, json_response, qint
from shoal.engine.api.bridge import pump
from shoal.engine.api.hijack import hijack, wants_upgrade
from shoal.engine.api.streams import MULTIPLEXED_STREAM, RAW_STREAM, encode
from shoal.engine.errors import EngineError


async def exec_create(request: web.Request) -> web.Response:
    body = await body_json(request)
    ex = request.app[ENGINE_KEY].execs.create(request.match_info["id"], body)
    return json_response({"Id": ex.id}, status=201)


async def exec_start(request: web.Request) -> web.StreamResponse:
    execs = request.app[ENGINE_KEY].execs
    body = await body_json(request)
    ex = execs.get(request.match_info["id"])
    tty = bool(body.get("Tty", ex.config.get("Tty")))
    detach = bool(body.get("Detach"))
    ctype = RAW_STREAM if tty else MULTIPLEXED_STREAM
    if detach:
        await execs.start(ex.id, detach=True)
        return web.Response(status=200)
    if not wants_upgrade(request):
        stream = await execs.start(ex.id)
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        await resp.prepare(request)
        while (item := await stream.read()) is not None:
            await resp.write(encode(item[0], item[1], tty))
        await stream.close()
        await execs.wait(ex.id)
        await resp.write_eof()
        return resp
    conns = []

    async def answer_upgrade() -> None:
        conns.append(await hijack(request, ctype))

    try:
        stream = await execs.start(ex.id, on_attached=answer_upgrade)
    except EngineError as exc:
        if not conns:
            raise
        await conns[0].write(f"{exc}\r\n".encode())  # the headers are gone: say it in-band
        conns[0].close()
        return conns[0].response
    conn = conns[0]
    await pump(
        conn, stream, tty=tty, stdin=bool(ex.config.get("AttachStdin")),
        stdout=ex.config.get("AttachStdout", True) is not False,
        stderr=ex.config.get("AttachStderr", True) is not False,
        before_close=lambda: execs.wait(ex.id),  # the exit code is known when the client asks
    )
    return conn.response


async def exec_resize(request: web.Request) -> web.Response:
    h, w = qint(request, "h", 0) or 0, qint(request, "w", 0) or 0
    await request.app[ENGINE_KEY].execs.resize(request.match_info["id"], h, w)
    return web.Response(status=201)


async def exec_inspect(request: web.Request) -> web.Response:
    return json_response(request.app[ENGINE_KEY].execs.get(request.match_info["id"]).inspect())


def register(app: web.Application) -> None:
    add(app, "POST", "/containers/{id}/exec", exec_create)
    add(app, "POST", "/exec/{id}/start", exec_start)
    add(app, "POST", "/exec/{id}/resize", exec_resize)
    add(app, "GET", "/exec/{id}/json", exec_inspect)
