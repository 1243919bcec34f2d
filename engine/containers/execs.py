"""Exec instances (`docker exec`): create, start, inspect, resize.

An exec runs in a shim of its own that joins the container's namespaces and
cgroup; the runtime treats its id like a container id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.engine.containers.config import merge_env
from shoal.engine.containers.errors import ContainerNotRunning, ExecNotFound, InvalidConfig
from shoal.engine.containers.service import ContainerService
from shoal.engine.containers.specs import container_env, process_for
from shoal.engine.errors import Conflict, EngineError

log = logging.getLogger(__name__)


@dataclass
class ExecInstance:
    id: str
    container_id: str
    config: dict[str, Any]
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def inspect(self) -> dict[str, Any]:
        cmd = self.config.get("Cmd") or []
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": bool(self.config.get("Tty")),
                "entrypoint": cmd[0] if cmd else "",
                "arguments": cmd[1:],
                "privileged": False,
                "user": self.config.get("User") or "",
            },
            "OpenStdin": bool(self.config.get("AttachStdin")),
            "OpenStderr": bool(self.config.get("AttachStderr")),
            "OpenStdout": bool(self.config.get("AttachStdout")),
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": "",
            "Pid": self.pid,
        }


class ExecService:
    """Keep exec instances in memory (as Docker does) and run them through the runtime."""

    def __init__(self, containers: ContainerService) -> None:
        self.containers = containers
        self.runtime = containers.runtime
        self._execs: dict[str, ExecInstance] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, exec_id: str) -> ExecInstance:
        try:
            return self._execs[exec_id]
        except KeyError:
            raise ExecNotFound(f"No such exec instance: {exec_id}") from None

    def create(self, ref: str, body: dict[str, Any]) -> ExecInstance:
        c = self.containers.get(ref)
        if not c.running:
            raise ContainerNotRunning(f"container {c.Id} is not running")
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd or not all(isinstance(a, str) for a in cmd):
            raise InvalidConfig("No exec command specified")
        body = {**body, "Cmd": cmd}
        ex = ExecInstance(id=secrets.token_hex(32), container_id=c.Id, config=body)
        self._execs[ex.id] = ex
        c.ExecIDs.append(ex.id)
        return ex

    async def start(
        self,
        exec_id: str,
        detach: bool = False,
        on_attached: Callable[[], Awaitable[Any]] | None = None,
    ) -> Any | None:
        """Start the exec; return its attach stream (None when detached).

        ON_ATTACHED runs once the output is attached and before the process
        runs: the API answers `101 UPGRADED` there, so that no output can race
        ahead of the response headers (clients that read the raw socket after
        parsing the headers, like the Docker SDK, would lose it).
        """
        ex = self.get(exec_id)
        if ex.started:
            raise Conflict(f"exec {exec_id} has already been started")
        c = self.containers.get(ex.container_id)
        if not c.running:
            raise ContainerNotRunning(f"container {c.Id} is not running")
        cfg = ex.config
        env = merge_env(container_env(c), cfg.get("Env") or [])
        process = await asyncio.to_thread(
            process_for, Path(c.Rootfs), cfg["Cmd"], env,
            cfg.get("WorkingDir") or c.Config.get("WorkingDir") or "/",
            cfg.get("User") or c.Config.get("User") or "",
            bool(cfg.get("Tty")), bool(cfg.get("AttachStdin")),
        )
        ex.started = True
        await self.runtime.exec_create(c.Id, ex.id, process)
        stream = None
        try:
            if not detach:
                stream = await self.runtime.attach(ex.id, stdin=bool(cfg.get("AttachStdin")))
            if on_attached is not None:
                await on_attached()
            ex.pid = await self.runtime.start(ex.id)
        except EngineError:
            st = self.runtime.state(ex.id)
            ex.exit_code = st.exit_code if st.exit_code is not None else 126
            if stream is not None:
                await stream.close()
            with contextlib.suppress(EngineError):
                await self.runtime.delete(ex.id)
            ex.done.set()
            raise
        ex.running = True
        task = asyncio.create_task(self._monitor(ex))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return stream

    async def _monitor(self, ex: ExecInstance) -> None:
        try:
            st = await self.runtime.wait(ex.id)
            ex.exit_code = st.exit_code
        except EngineError as exc:
            log.warning("lost exec %s: %s", ex.id[:12], exc)
            ex.exit_code = 255
        ex.running = False
        with contextlib.suppress(EngineError):
            await self.runtime.delete(ex.id)
        ex.done.set()

    async def wait(self, exec_id: str) -> int | None:
        ex = self.get(exec_id)
        await ex.done.wait()
        return ex.exit_code

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        ex = self.get(exec_id)
        if not ex.running:
            raise ContainerNotRunning(f"exec {exec_id} is not running")
        await self.runtime.resize(ex.id, height, width)

    def forget_container(self, cid: str) -> None:
        for eid in [e.id for e in self._execs.values() if e.container_id == cid]:
            del self._execs[eid]
