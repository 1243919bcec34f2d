"""The engine facade: images, snapshots, runtime and containers wired together.

The REST API (engine/api) and, later, the agent use only this object.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from shoal.engine.config import EngineConfig
from shoal.engine.containers.execs import ExecService
from shoal.engine.containers.service import ContainerService
from shoal.engine.images.build.builder import Builder
from shoal.engine.images.build.cache import BuildCache
from shoal.engine.images.registry.service import RegistryService
from shoal.engine.images.service import ImageService
from shoal.engine.network.service import NetworkService
from shoal.engine.runtime.cgroups import CgroupManager
from shoal.engine.runtime.runtime import Runtime
from shoal.engine.snapshots.overlay import Snapshotter
from shoal.engine.volumes import VolumeService


class Engine:
    """One host's container engine; `start()` re-adopts what a previous daemon left running."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        for d in (config.data_root, config.run_root, config.containers_root, config.shims_root):
            d.mkdir(parents=True, exist_ok=True)
        self.images = ImageService(config.images_root)
        self.registry = RegistryService(
            self.images, config.insecure_registries, config.certs_dir
        )
        self.snapshots = Snapshotter(config.snapshots_root, self.images)
        self.cgroups = CgroupManager()
        self.runtime = Runtime(config.shims_root, self.cgroups)
        self.networks = NetworkService(config)
        self.volumes = VolumeService(config.data_root / "volumes")
        self.containers = ContainerService(
            config, self.images, self.snapshots, self.runtime, self.networks, self.volumes
        )
        self.execs = ExecService(self.containers)
        self.build_cache = BuildCache(config.images_root / "build-cache.json")
        self.builder = Builder(self.images, self.snapshots, self.containers, self.build_cache,
                               pull=lambda ref: self.registry.pull(ref))
        self.node_id = _engine_id(config.data_root / "engine-id")

    @property
    def cgroup_version(self) -> str:
        return str(getattr(self.cgroups, "version", "1"))

    async def start(self) -> None:
        """Reconcile networks, load stored containers and re-attach to the running ones."""
        stored = self.containers.store.load()
        running = [c.Id for c in stored if c.running]
        await asyncio.to_thread(self.networks.start, running)
        users = {c.Id: [str(v.get("Name")) for v in c.Mounts if v.get("Type") == "volume"]
                 for c in stored}
        await asyncio.to_thread(self.volumes.reconcile, users, running)
        await self.containers.restore()

    async def stop(self) -> None:
        """Stop watching containers; they keep running under their shims."""
        await self.containers.close()
        await asyncio.to_thread(self.networks.stop)


def _engine_id(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_hex(16)
        path.write_text(value + "\n")
        return value
