"""The engine executor: each task is a container of the local engine.

Only the engine facade is used (engine.images, engine.registry,
engine.containers), never its internals. A missing image is pulled in the
prepare step (pull.py), its progress given to the driver. A controller finds
its container by name, else by the task-id label, so a restarted agent
re-adopts what the previous one started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import platform
import socket
from collections.abc import Mapping
from typing import Any

from shoal import __version__
from shoal.agent.exec.containerspec import LABEL_TASK_ID, container_name, create_body
from shoal.agent.exec.errors import ContainerGone, TaskFailed, TaskRejected
from shoal.agent.exec.interfaces import Observed
from shoal.agent.exec.networks import TaskNetworks
from shoal.agent.exec.pull import ImagePuller, Progress
from shoal.engine.errors import EngineError, InvalidArgument, NotFound, NotModified
from shoal.proto.shoal.v1.dispatcher_pb2 import NetworkState
from shoal.proto.shoal.v1.objects_pb2 import EngineDescription, NodeDescription, Task
from shoal.proto.shoal.v1.types_pb2 import Platform, Resources

log = logging.getLogger(__name__)
HEALTH_POLL = 0.25  # seconds between two looks at a container's health
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def host_memory() -> int:
    """Return the host's memory in bytes (MemTotal)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    return 0


def host_description(labels: dict[str, str] | None = None) -> NodeDescription:
    """Return this host's hostname, platform, CPUs, memory and engine version."""
    d = NodeDescription(
        hostname=socket.gethostname(),
        platform=Platform(architecture=_ARCH.get(platform.machine(), platform.machine()),
                          os="linux"),
        resources=Resources(nano_cpus=(os.cpu_count() or 1) * 10**9, memory_bytes=host_memory()),
        engine=EngineDescription(engine_version=__version__),
    )
    for k, v in (labels or {}).items():
        d.engine.labels[k] = v
    return d


def health_of(c: Any) -> str:
    """Return a container's health: "none" (no health check), "starting", "healthy"..."""
    h = c.State.Health
    if not isinstance(h, dict):
        return "none"
    return str(h.get("Status") or "starting")


class EngineController:
    """Runs one task as a container of ENGINE (NETWORKS: the executor's TaskNetworks)."""

    def __init__(self, engine: Any, task: Task, networks: TaskNetworks | None = None,
                 puller: ImagePuller | None = None) -> None:
        self.engine = engine
        self.task = task
        self.name = container_name(task)
        self.networks = networks or TaskNetworks(engine)
        self.puller = puller or ImagePuller(engine)

    def _find(self) -> Any | None:
        containers = self.engine.containers
        with contextlib.suppress(NotFound):
            c = containers.get(self.name)
            if (c.Config.get("Labels") or {}).get(LABEL_TASK_ID) == self.task.id:
                return c
        for c in containers.list(all=True):
            if (c.Config.get("Labels") or {}).get(LABEL_TASK_ID) == self.task.id:
                return c
        return None

    def _need(self) -> Any:
        c = self._find()
        if c is None:
            raise ContainerGone(f"container {self.name} not found")
        return c

    async def prepare(self, progress: Progress | None = None) -> None:
        if self._find() is not None:
            return
        spec = self.task.spec.container
        if not spec.image:
            raise TaskRejected("the task has no image")
        await self.puller.ensure(spec.image, spec.pull_options.registry_auth, progress)

        async def create(networks: list[tuple[str, list[str], str]]) -> None:
            await self.engine.containers.create(create_body(self.task, networks), self.name)

        try:
            await self.networks.create_container(self.task, create)
        except InvalidArgument as exc:
            raise TaskRejected(f"invalid container spec: {exc}") from exc
        except EngineError as exc:
            if self._find() is None:
                raise TaskRejected(f"cannot create the container: {exc}") from exc

    async def start(self) -> Observed:
        c = self._need()
        try:
            await self.engine.containers.start(c.Id)
        except NotModified:
            pass
        except EngineError as exc:
            raise TaskFailed(f"starting container failed: {exc}") from exc
        c = self.engine.containers.get(c.Id)
        return Observed("running" if c.running else "exited", c.Id, c.State.Pid,
                        c.State.ExitCode)

    async def _release(self) -> None:
        """Remove the backing networks nothing uses any more; never fail the task for it."""
        try:
            await self.networks.release()
        except EngineError as exc:
            log.warning("task %s: networks not released: %s", self.task.id, exc)

    async def wait(self) -> int:
        c = self._need()
        return int(await self.engine.containers.wait(c.Id))

    async def health(self, last: str) -> str:
        # The engine keeps State.Health in memory and has no health events:
        # a dict lookup per poll, only for tasks that have a health check.
        while True:
            c = self._need()
            health = health_of(c)
            if health != last:
                return health
            await asyncio.sleep(HEALTH_POLL)

    async def shutdown(self, grace: float | None) -> None:
        c = self._find()
        if c is None or not c.running:
            return
        timeout = None if grace is None else max(0, math.ceil(grace))
        try:  # no new connections to a stopping task (VIPs and published ports here)
            await self.networks.leaving(self.task)
        except EngineError as exc:
            log.warning("task %s: still a backend: %s", self.task.id, exc)
        with contextlib.suppress(NotModified, NotFound):
            await self.engine.containers.stop(c.Id, timeout=timeout)
        await self._release()

    async def remove(self) -> None:
        self.networks.forget(self.task)
        c = self._find()
        if c is not None:
            with contextlib.suppress(NotFound):
                await self.engine.containers.remove(c.Id, force=True)
        await self._release()

    async def inspect(self) -> Observed:
        c = self._find()
        if c is None:
            return Observed("absent")
        status = c.State.Status if c.State.Status in ("created", "running") else "exited"
        return Observed(status, c.Id, c.State.Pid, c.State.ExitCode)


class EngineExecutor:
    """Runs tasks as containers of ENGINE (a shoal.engine.Engine)."""

    def __init__(self, engine: Any, labels: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.labels = dict(labels or {})
        self.networks = TaskNetworks(engine)
        self.puller = ImagePuller(engine)  # one per node: tasks share pulls

    async def describe(self) -> NodeDescription:
        return await asyncio.to_thread(host_description, self.labels)

    def controller(self, task: Task) -> EngineController:
        return EngineController(self.engine, task, self.networks, self.puller)

    def network_states(self, states: Mapping[str, NetworkState]) -> None:
        """Apply the latest NetworkStates in the background (NetworkStateSink)."""
        self.networks.network_states(states)

    async def stop_networks(self) -> None:
        """Let a running application of the states end (NetworkStateSink)."""
        await self.networks.stop()
