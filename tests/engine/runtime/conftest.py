"""Fixtures of the runtime tests: a busybox rootfs directory, a Runtime that cleans up."""

from __future__ import annotations

import os
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.engine.runtime.cgroups import CgroupManager
from shoal.engine.runtime.runtime import Runtime
from shoal.engine.runtime.spec import ContainerSpec, Process, Resources
from shoal.engine.runtime.state import alive, read_doc


@pytest.fixture(scope="session")
def rootfs_template(busybox_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rootfs-template")
    with tarfile.open(busybox_tar) as tar:
        tar.extractall(d, filter="fully_trusted")
    return d


@pytest.fixture
def rootfs(rootfs_template: Path, tmp_path: Path) -> Path:
    """Give a test its own busybox rootfs (a hard-linked copy of the template)."""
    d = tmp_path / "rootfs"
    os.system(f"cp -al {rootfs_template} {d}")
    assert (d / "bin" / "busybox").exists()
    d.chmod(0o755)  # mktemp made it 0700: "/" of the container must be searchable
    return d


class Harness:
    """A Runtime plus helpers to build specs under a private cgroup parent."""

    def __init__(self, rt: Runtime, rootfs: Path, tmp: Path, cgroup_parent: str) -> None:
        self.rt = rt
        self.rootfs = rootfs
        self.tmp = tmp
        self.cgroup_parent = cgroup_parent

    def spec(self, args: list[str], *, cgroup: bool = True, **kw) -> ContainerSpec:
        cid = kw.pop("id", uuid.uuid4().hex[:12])
        proc_kw = {k: kw.pop(k) for k in list(kw) if k in Process.__dataclass_fields__}
        proc_kw.setdefault("env", ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"])
        return ContainerSpec(
            id=cid,
            rootfs=str(self.rootfs),
            process=Process(args=args, **proc_kw),
            cgroup_path=f"{self.cgroup_parent}/{cid}" if cgroup else "",
            log_path=str(self.tmp / f"{cid}.log"),
            resources=kw.pop("resources", Resources()),
            **kw,
        )

    async def run(self, spec: ContainerSpec, stdin: bytes | None = None):
        """Create, attach, start, feed STDIN, collect output, wait: (state, stdout, stderr)."""
        await self.rt.create(spec)
        stream = await self.rt.attach(spec.id, stdin=stdin is not None)
        await self.rt.start(spec.id)
        if stdin is not None:
            await stream.write(stdin)
            await stream.close_stdin()
        out = {1: b"", 2: b""}
        while (chunk := await stream.read()) is not None:
            out[chunk[0]] += chunk[1]
        await stream.close()
        state = await self.rt.wait(spec.id)
        return state, out[1], out[2]

    def assert_gone(self, spec: ContainerSpec, doc: dict) -> None:
        """Check that nothing of SPEC is left: state dir, cgroup, shim, process."""
        assert not (self.rt.root / spec.id).exists()
        if spec.cgroup_path:
            assert not self.rt.cgroups.exists(spec.cgroup_path)
        assert not alive(doc["shim_pid"], doc["shim_start"])
        assert not alive(doc["pid"], doc["pid_start"])


@pytest.fixture
async def harness(rootfs: Path, tmp_path: Path) -> AsyncIterator[Harness]:
    cgroups = CgroupManager()
    parent = f"shoal-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    rt = Runtime(tmp_path / "shims", cgroups)
    h = Harness(rt, rootfs, tmp_path, parent)
    yield h
    docs = [read_doc(d) for d in rt.root.iterdir()]
    for d in sorted(rt.root.iterdir(), key=lambda p: p.name in rt.list()):
        if d.exists():
            await rt.delete(d.name, force=True)
    rt.close()
    cgroups.destroy(parent)
    assert list(rt.root.iterdir()) == []
    for doc in docs:
        if doc:
            assert not alive(doc["shim_pid"], doc["shim_start"]), "a shim outlived its test"
