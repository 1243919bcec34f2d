"""A dispatcher over the test's store, with fast heartbeats."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shoal.manager.dispatcher import Dispatcher, DispatcherConfig
from shoal.manager.store import Store


@pytest.fixture
def config() -> DispatcherConfig:
    return DispatcherConfig(heartbeat_period=0.2, grace_multiplier=3, check_interval=0.05)


@pytest.fixture
async def dispatcher(store: Store, config: DispatcherConfig) -> AsyncIterator[Dispatcher]:
    d = Dispatcher(store, config)
    await d.start()
    yield d
    await d.stop()
