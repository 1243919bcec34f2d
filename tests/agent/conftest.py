"""A real dispatcher served over gRPC (insecure, loopback) for agent tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from shoal.manager.dispatcher import SERVER_OPTIONS, Dispatcher, DispatcherConfig, add_to_server
from shoal.manager.store import Store
from tests.manager import conftest as manager_fixtures

# the store fixtures of tests/manager (real etcd), for the agent tests too
etcd_server = manager_fixtures.etcd_server
client = manager_fixtures.client
root = manager_fixtures.root
store = manager_fixtures.store


@dataclass
class Served:
    dispatcher: Dispatcher
    server: grpc.aio.Server
    addr: str

    async def stop(self) -> None:
        await self.dispatcher.stop()
        await self.server.stop(0)


async def serve(store: Store, config: DispatcherConfig | None = None) -> Served:
    """Start a dispatcher on STORE and a gRPC server for it on a free loopback port."""
    d = Dispatcher(store, config or DispatcherConfig(heartbeat_period=0.3, check_interval=0.05))
    await d.start()
    server = grpc.aio.server(options=SERVER_OPTIONS)
    add_to_server(server, d)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return Served(d, server, f"127.0.0.1:{port}")


@pytest.fixture
async def manager(store: Store) -> AsyncIterator[Served]:
    s = await serve(store)
    yield s
    await s.stop()
