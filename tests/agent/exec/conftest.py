"""An in-process Engine with private roots, network names and cgroup parent (root only)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.engine.config import EngineConfig
from shoal.engine.engine import Engine
from shoal.engine.network.service import NetworkService
from shoal.engine.runtime.cgroups import CgroupManager
from tests.daemon import cgroup_dirs, links_named, mounts_under, rules_tagged


def engine_config(root: Path) -> EngineConfig:
    tag = secrets.token_hex(2)[:3]
    opts = {
        "default_bridge": f"a{tag}0",
        "bridge_prefix": f"a{tag}-",
        "veth_prefix": f"w{tag}",
        "chain_prefix": f"SHA{tag.upper()}",
        "rule_tag": f"shoal-agent-test-{tag}",
        "dns_forward": "false",
    }
    return EngineConfig(data_root=root / "data", run_root=root / "run",
                        cgroup_parent=f"shoal-agent-test-{tag}", stop_timeout=2,
                        extra={f"network.{k}": v for k, v in opts.items()})


class EngineHost:
    """One engine's roots; `open()` starts an Engine on them (again after a "restart")."""

    def __init__(self, root: Path, busybox_tar: Path) -> None:
        self.root = root
        self.config = engine_config(root)
        self.busybox_tar = busybox_tar
        self.engine: Engine | None = None

    async def open(self) -> Engine:
        self.engine = Engine(self.config)
        await self.engine.start()
        return self.engine

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None

    async def cleanup(self) -> None:
        engine = self.engine or await self.open()
        for c in engine.containers.list(all=True):
            await engine.containers.remove(c.Id, force=True)
        await self.close()
        NetworkService(self.config).teardown()
        CgroupManager().destroy(self.config.cgroup_parent)
        x = self.config.extra
        assert mounts_under(str(self.root)) == [], "mounts leaked"
        assert cgroup_dirs(self.config.cgroup_parent) == [], "cgroups leaked"
        assert links_named((x["network.default_bridge"], x["network.veth_prefix"])) == []
        assert rules_tagged(x["network.rule_tag"]) == [], "iptables rules leaked"


@pytest.fixture
async def host(tmp_path: Path, busybox_tar: Path) -> AsyncIterator[EngineHost]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    h = EngineHost(tmp_path / "host", busybox_tar)
    engine = await h.open()
    engine.images.import_rootfs(str(busybox_tar), "busybox:latest")
    try:
        yield h
    finally:
        await h.cleanup()
