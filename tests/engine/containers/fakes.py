"""Fakes of the runtime, images and snapshots for unit tests of the container service."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from shoal.engine.errors import InvalidArgument, NotFound


@dataclass
class FakeState:
    status: str = "created"
    pid: int = 0
    exit_code: int | None = None
    started_at: str = ""
    finished_at: str = ""
    oom_killed: bool = False
    error: str = ""


@dataclass
class FakeImage:
    id: str = "sha256:" + "ab" * 32
    config: dict = field(default_factory=lambda: {"config": {"Cmd": ["sh"], "Env": ["A=1"]}})


class FakeImages:
    def __init__(self) -> None:
        self.image = FakeImage()

    def get(self, ref: str) -> FakeImage:
        if ref in ("busybox", self.image.id):
            return self.image
        raise NotFound(f"No such image: {ref}")


class FakeSnapshots:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.live: set[str] = set()

    def prepare(self, key: str, image: object) -> Path:
        p = self.root / key
        (p / "etc").mkdir(parents=True, exist_ok=True)
        self.live.add(key)
        return p

    mount = prepare

    def remove(self, key: str) -> None:
        self.live.discard(key)


class FakeRuntime:
    """Processes that run until killed; `exit_codes` says how a command exits by itself."""

    def __init__(self) -> None:
        self.states: dict[str, FakeState] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.auto_exit: dict[str, int] = {}  # argv[0] -> exit code right after start
        self.ignore_term = False
        self.specs: dict = {}

    async def create(self, spec) -> None:
        self.states[spec.id] = FakeState()
        self.done[spec.id] = asyncio.Event()
        self.specs[spec.id] = spec

    async def start(self, id: str) -> int:
        spec = self.specs[id]
        if spec.process.args[0] == "nosuchcmd":
            self._exit(id, 127)
            raise InvalidArgument('exec: "nosuchcmd": executable file not found in $PATH')
        st = self.states[id]
        st.status, st.pid = "running", 4242
        if spec.process.args[0] in self.auto_exit:
            asyncio.get_running_loop().call_later(0.01, self._exit, id,
                                                  self.auto_exit[spec.process.args[0]])
        return 4242

    def _exit(self, id: str, code: int) -> None:
        st = self.states[id]
        st.status, st.exit_code, st.finished_at = "exited", code, "2026-11-28T05:00:00Z"
        self.done[id].set()

    async def exec_create(self, container_id, exec_id, process) -> None:
        from shoal.engine.runtime.spec import ContainerSpec
        await self.create(ContainerSpec(id=exec_id, rootfs="/", process=process))

    def state(self, id: str) -> FakeState:
        return self.states.get(id, FakeState(status="unknown"))

    async def wait(self, id: str) -> FakeState:
        await self.done[id].wait()
        return self.states[id]

    async def kill(self, id: str, sig: int) -> None:
        if sig == 15 and self.ignore_term:
            return
        self._exit(id, 128 + sig)

    async def resize(self, id, h, w) -> None:
        pass

    async def attach(self, id, stdin=False):
        return None

    async def delete(self, id: str, force: bool = False) -> None:
        self.states.pop(id, None)

    def list(self) -> list[str]:
        return list(self.states)
