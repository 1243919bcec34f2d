"""Fixtures of the volume tests: a busybox rootfs and a cgroup-less runtime for root tests."""

from __future__ import annotations

import os
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.engine.runtime.runtime import Runtime
from shoal.engine.runtime.spec import ContainerSpec, Mount, Process


def mounts_below(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split()[4].startswith(prefix)]


@pytest.fixture(scope="session")
def busybox_template(busybox_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("volumes-rootfs")
    with tarfile.open(busybox_tar) as tar:
        tar.extractall(d, filter="fully_trusted")
    return d


@pytest.fixture
def busybox_rootfs(busybox_template: Path, tmp_path: Path) -> Path:
    """Give a test its own busybox rootfs (a hard-linked copy of the template)."""
    d = tmp_path / "rootfs"
    os.system(f"cp -al {busybox_template} {d}")
    d.chmod(0o755)
    return d


class Runner:
    """Run one busybox command in a container with given mounts; collect its output."""

    def __init__(self, rt: Runtime, rootfs: Path, tmp: Path) -> None:
        self.rt, self.rootfs, self.tmp = rt, rootfs, tmp

    async def run(self, cid: str, script: str, mounts: list[Mount]) -> tuple[int, str, str]:
        spec = ContainerSpec(
            id=cid,
            rootfs=str(self.rootfs),
            process=Process(args=["sh", "-c", script], env=["PATH=/bin"]),
            mounts=mounts,
            log_path=str(self.tmp / f"{cid}.log"),
        )
        await self.rt.create(spec)
        stream = await self.rt.attach(cid)
        await self.rt.start(cid)
        out = {1: b"", 2: b""}
        while (chunk := await stream.read()) is not None:
            out[chunk[0]] += chunk[1]
        await stream.close()
        state = await self.rt.wait(cid)
        await self.rt.delete(cid)
        return state.exit_code, out[1].decode(), out[2].decode()


@pytest.fixture
async def runner(busybox_rootfs: Path, tmp_path: Path) -> AsyncIterator[Runner]:
    rt = Runtime(tmp_path / "shims")
    yield Runner(rt, busybox_rootfs, tmp_path)
    for d in list(rt.root.iterdir()):
        await rt.delete(d.name, force=True)
    rt.close()
    assert mounts_below(str(tmp_path)) == [], "a test left mounts behind"


def new_cid() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex
