"""A fake executor: tasks go through every state without containers.

The scale benchmark runs a thousand agents in one process with it; tests use
it to drive the agent against a real dispatcher. Delays are configurable per
step; `run_for` None means a task runs until it is shut down.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from shoal.agent.exec.errors import TaskFailed, TaskRejected
from shoal.agent.exec.interfaces import Observed
from shoal.proto.shoal.v1.objects_pb2 import EngineDescription, NodeDescription, Task
from shoal.proto.shoal.v1.types_pb2 import Platform, Resources

_PIDS = itertools.count(1000)


@dataclass
class FakeConfig:
    """Delays (seconds) of each step, and how tasks end.

    run_for:      seconds a task runs before it exits with `exit_code` (None: forever).
    reject_images: images that make prepare fail (the task is REJECTED).
    """

    prepare_delay: float = 0.0
    start_delay: float = 0.0
    stop_delay: float = 0.0
    run_for: float | None = None
    exit_code: int = 0
    reject_images: set[str] = field(default_factory=set)
    fail_start: bool = False


@dataclass
class FakeContainer:
    status: str = "created"
    pid: int = 0
    exit_code: int = 0
    exited: asyncio.Event = field(default_factory=asyncio.Event)


class FakeController:
    """Pretends to run one task; containers live in the executor's dict."""

    def __init__(self, executor: FakeExecutor, task: Task) -> None:
        self.executor = executor
        self.task_id = str(task.id)
        self.image = str(task.spec.container.image)

    @property
    def _container(self) -> FakeContainer | None:
        return self.executor.containers.get(self.task_id)

    async def prepare(self, progress: Callable[[str], None] | None = None) -> None:
        cfg = self.executor.config
        if cfg.prepare_delay:
            await asyncio.sleep(cfg.prepare_delay)
        if self.image in cfg.reject_images:
            raise TaskRejected(f"No such image: {self.image}")
        self.executor.containers.setdefault(self.task_id, FakeContainer())

    async def start(self) -> Observed:
        cfg = self.executor.config
        if cfg.start_delay:
            await asyncio.sleep(cfg.start_delay)
        c = self._container
        if c is None or cfg.fail_start:
            raise TaskFailed("cannot start: no container")
        if c.status != "running":
            c.status, c.pid = "running", next(_PIDS)
            if cfg.run_for is not None:
                asyncio.get_running_loop().call_later(cfg.run_for, self._exit, c, cfg.exit_code)
        return Observed("running", self.task_id, c.pid)

    def _exit(self, c: FakeContainer, code: int) -> None:
        if c.status == "running":
            c.status, c.pid, c.exit_code = "exited", 0, code
            c.exited.set()

    async def wait(self) -> int:
        c = self._container
        if c is None:
            raise TaskFailed("no container")
        await c.exited.wait()
        return c.exit_code

    async def health(self, last: str) -> str:
        if last == "none":
            await asyncio.Event().wait()  # never changes
        return "none"

    async def shutdown(self, grace: float | None) -> None:
        c = self._container
        if c is not None and c.status == "running":
            if self.executor.config.stop_delay:
                await asyncio.sleep(self.executor.config.stop_delay)
            self._exit(c, 143)

    async def remove(self) -> None:
        c = self.executor.containers.pop(self.task_id, None)
        if c is not None:
            self._exit(c, 137)

    async def inspect(self) -> Observed:
        c = self._container
        if c is None:
            return Observed("absent")
        return Observed(c.status, self.task_id, c.pid, c.exit_code)


class FakeExecutor:
    """An Executor whose containers are dict entries."""

    def __init__(self, config: FakeConfig | None = None, hostname: str = "fake") -> None:
        self.config = config or FakeConfig()
        self.hostname = hostname
        self.containers: dict[str, FakeContainer] = {}

    async def describe(self) -> NodeDescription:
        return NodeDescription(
            hostname=self.hostname,
            platform=Platform(architecture="amd64", os="linux"),
            resources=Resources(nano_cpus=(os.cpu_count() or 1) * 10**9, memory_bytes=8 << 30),
            engine=EngineDescription(engine_version="fake"),
        )

    def controller(self, task: Task) -> FakeController:
        return FakeController(self, task)
