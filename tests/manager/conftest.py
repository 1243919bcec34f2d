"""Fixtures for manager tests: real etcd members on random loopback ports.

One etcd serves the whole session (each test writes under its own root); tests
that compact history, cut connections or need special limits start their own.
Every etcd started here is stopped and its data directory removed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shoal.manager.etcd import ETCD_BINARY, EtcdConfig, EtcdProcess, connect
from shoal.manager.store import Store, StoreConfig
from tests.manager.proxy import Proxy


def _need_etcd() -> None:
    if not os.access(ETCD_BINARY, os.X_OK):
        pytest.skip("etcd is not installed (make deps installs etcd-server)")


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    """Return an etcd member shared by the session."""
    _need_etcd()
    base = tmp_path_factory.mktemp("etcd-session")
    proc = EtcdProcess(EtcdConfig(data_dir=base / "data"))
    asyncio.run(proc.start())
    try:
        yield proc
    finally:
        asyncio.run(proc.stop())
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def own_etcd(tmp_path: Path) -> AsyncIterator[EtcdProcess]:
    """Return an etcd member of this test alone (for compaction, failures, limits)."""
    _need_etcd()
    proc = EtcdProcess(EtcdConfig(data_dir=tmp_path / "etcd"))
    await proc.start()
    try:
        yield proc
    finally:
        await proc.stop()
        shutil.rmtree(tmp_path / "etcd", ignore_errors=True)


@pytest.fixture
def root() -> str:
    """Return a key root of this test alone."""
    return f"/test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def client(etcd_server: EtcdProcess):
    c = connect([etcd_server.endpoint])
    await c.connect()
    yield c
    await c.close()


@pytest.fixture
async def store(client, root: str) -> AsyncIterator[Store]:
    s = Store(client, StoreConfig(root=root))
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def proxy(etcd_server: EtcdProcess) -> AsyncIterator[Proxy]:
    """Return a proxy to the session etcd whose links the test can cut."""
    p = Proxy(etcd_server.config.host, etcd_server.config.client_port)
    await p.start()
    yield p
    await p.stop()


async def eventually(check, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Wait until CHECK() is true; fail after TIMEOUT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
