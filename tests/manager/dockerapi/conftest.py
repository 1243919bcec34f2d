"""Fixtures: a FakeControl behind a real grpc.aio server, and the REST app with a FakeCluster."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer

from shoal.engine.api.app import make_app
from shoal.engine.api.routes_swarm import CLUSTER_KEY
from shoal.proto.shoal.v1 import control_pb2_grpc
from tests.manager.dockerapi.fakes import FakeCluster, FakeControl, serve_control


@pytest.fixture
def sockdir() -> Iterator[str]:
    """Return a short directory for UNIX sockets (tmp_path can pass the 108-byte limit)."""
    d = tempfile.mkdtemp(prefix="shoal-dapi-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def servicer() -> FakeControl:
    return FakeControl()


@pytest.fixture
async def stub(servicer: FakeControl, sockdir: str) -> AsyncIterator[control_pb2_grpc.ControlStub]:
    server = await serve_control(servicer, f"{sockdir}/control.sock")
    channel = grpc.aio.insecure_channel(f"unix:{sockdir}/control.sock")
    try:
        yield control_pb2_grpc.ControlStub(channel)
    finally:
        await channel.close()
        await server.stop(None)


@pytest.fixture
def cluster(stub: control_pb2_grpc.ControlStub) -> FakeCluster:
    return FakeCluster(stub)


@pytest.fixture
async def api(cluster: FakeCluster) -> AsyncIterator[TestClient]:
    app = make_app(None)
    app[CLUSTER_KEY] = cluster
    async with TestClient(TestServer(app)) as c:
        yield c
