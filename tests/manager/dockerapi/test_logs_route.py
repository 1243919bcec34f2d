"""GET /services/{id}/logs?follow=1 lets go of the backend's stream once the client leaves."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shoal.engine.api.app import make_app
from shoal.engine.api.routes_swarm import CLUSTER_KEY
from shoal.manager.dockerapi.backend import ServiceLogOptions
from tests.manager.dockerapi.fakes import FakeCluster
from tests.manager.dockerapi.test_routes import SPEC, _create


class QuietFollow(FakeCluster):
    """One line, then nothing: the route only notices a gone client by looking."""

    def __init__(self, stub) -> None:  # type: ignore[no-untyped-def]
        super().__init__(stub)
        self.released = asyncio.Event()

    async def service_logs(self, service_id: str,
                           opts: ServiceLogOptions) -> AsyncIterator[tuple[int, bytes]]:
        try:
            yield 1, b"first\n"
            await asyncio.Event().wait()
            yield 1, b"never\n"
        finally:
            self.released.set()


async def _follow_then_leave(base: str, sid: str, cluster: QuietFollow) -> None:
    async with aiohttp.ClientSession() as session:
        r = await session.get(f"{base}/services/{sid}/logs",
                              params={"stdout": "1", "stderr": "1", "follow": "1"})
        head = await r.content.readexactly(8)
        stream, size = struct.unpack(">BxxxL", head)
        assert (stream, await r.content.readexactly(size)) == (1, b"first\n")
        assert not cluster.released.is_set()
        r.close()  # the client goes away (as `shoal service logs -f` on Ctrl-C)
    await asyncio.wait_for(cluster.released.wait(), 5)


async def test_a_quiet_follow_is_released_when_the_client_goes(stub) -> None:  # type: ignore[no-untyped-def]
    """As shoald runs the app: handlers are not cancelled, the route looks."""
    cluster = QuietFollow(stub)
    app = make_app(None)
    app[CLUSTER_KEY] = cluster
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}/v1.44"
        async with aiohttp.ClientSession() as session:
            r = await session.post(f"{base}/services/create", json=SPEC)
            sid = (await r.json())["ID"]
        await _follow_then_leave(base, sid, cluster)
    finally:
        await runner.cleanup()


async def test_a_cancelled_handler_releases_the_follow_too(stub) -> None:  # type: ignore[no-untyped-def]
    """With handler cancellation (aiohttp's test server) the stream ends at once as well."""
    cluster = QuietFollow(stub)
    app = make_app(None)
    app[CLUSTER_KEY] = cluster
    async with TestClient(TestServer(app)) as api:
        sid = await _create(api)
        await _follow_then_leave(str(api.make_url("")).rstrip("/"), sid, cluster)
