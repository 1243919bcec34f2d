"""The container lifecycle over a fake runtime: no root, no processes."""

import asyncio

import pytest

from shoal.engine.config import EngineConfig
from shoal.engine.containers.errors import ContainerRunning, InvalidConfig, NameConflict
from shoal.engine.containers.service import ContainerService
from shoal.engine.errors import InvalidArgument, NotFound, NotModified

from .fakes import FakeImages, FakeRuntime, FakeSnapshots


@pytest.fixture
def svc(tmp_path):
    cfg = EngineConfig(data_root=tmp_path / "data", run_root=tmp_path / "run", stop_timeout=1)
    rt = FakeRuntime()
    rt.auto_exit = {"true": 0, "false": 1}
    snaps = FakeSnapshots(tmp_path / "snaps")
    s = ContainerService(cfg, FakeImages(), snaps, rt)
    s.fake_runtime, s.fake_snaps = rt, snaps
    return s


async def test_create_merges_image_config(svc):
    c = await svc.create({"Image": "busybox", "Env": ["B=2"]}, "web")
    assert c.Name == "web" and c.Path == "sh"
    assert c.Config["Env"] == ["A=1", "B=2"]
    assert svc.get("web") is c and svc.get(c.Id[:8]) is c


async def test_unknown_image_creates_nothing(svc):
    with pytest.raises(NotFound, match="No such image: nope"):
        await svc.create({"Image": "nope"}, "xx")
    assert svc.list(all=True) == [] and svc.fake_snaps.live == set()


async def test_bad_memory_creates_nothing(svc):
    with pytest.raises(InvalidConfig):
        await svc.create({"Image": "busybox", "HostConfig": {"Memory": 10}}, "xx")
    assert svc.list(all=True) == []


async def test_bad_name_is_rejected(svc):
    with pytest.raises(InvalidArgument, match="Invalid container name"):
        await svc.create({"Image": "busybox"}, "bad name!")


async def test_duplicate_name_conflicts(svc):
    await svc.create({"Image": "busybox"}, "dup")
    with pytest.raises(NameConflict, match="already in use"):
        await svc.create({"Image": "busybox"}, "dup")


async def test_run_to_exit_and_wait(svc):
    c = await svc.create({"Image": "busybox", "Cmd": ["false"]}, "ff")
    fut = svc.waiter(c.Id, "next-exit")
    await svc.start(c.Id)
    assert await asyncio.wait_for(fut, 2) == 1
    assert c.State.Status == "exited" and c.State.ExitCode == 1
    assert await svc.wait(c.Id) == 1  # not-running: at once


async def test_start_twice_is_not_modified(svc):
    c = await svc.create({"Image": "busybox", "Cmd": ["sleep"]}, "ss")
    await svc.start(c.Id)
    with pytest.raises(NotModified):
        await svc.start(c.Id)
    await svc.remove(c.Id, force=True)


async def test_remove_running_needs_force(svc):
    c = await svc.create({"Image": "busybox", "Cmd": ["sleep"]}, "ss")
    await svc.start(c.Id)
    with pytest.raises(ContainerRunning, match="Stop the container"):
        await svc.remove(c.Id)
    await svc.remove(c.Id, force=True)
    assert svc.list(all=True) == [] and svc.fake_snaps.live == set()


async def test_stop_escalates_to_sigkill(svc):
    svc.fake_runtime.ignore_term = True
    c = await svc.create({"Image": "busybox", "Cmd": ["sleep"]}, "ss")
    await svc.start(c.Id)
    await svc.stop(c.Id, timeout=0)
    assert c.State.ExitCode == 137


async def test_exec_not_found_records_exit_127(svc):
    c = await svc.create({"Image": "busybox", "Cmd": ["nosuchcmd"]}, "nn")
    with pytest.raises(InvalidArgument, match="executable file not found"):
        await svc.start(c.Id)
    assert c.State.ExitCode == 127 and "not found" in c.State.Error


async def test_auto_remove_and_wait_removed(svc):
    c = await svc.create({"Image": "busybox", "Cmd": ["true"],
                          "HostConfig": {"AutoRemove": True}}, "rr")
    fut = svc.waiter(c.Id, "removed")
    await svc.start(c.Id)
    assert await asyncio.wait_for(fut, 2) == 0
    assert svc.list(all=True) == [] and svc.fake_snaps.live == set()


async def test_restore_readopts_running_and_records_dead(svc, tmp_path):
    a = await svc.create({"Image": "busybox", "Cmd": ["sleep"]}, "aa")
    b = await svc.create({"Image": "busybox", "Cmd": ["sleep"]}, "bb")
    await svc.start(a.Id)
    await svc.start(b.Id)
    await svc.close()  # the daemon goes away; containers keep running
    rt = svc.fake_runtime
    rt._exit(b.Id, 3)  # b exits while no daemon watches
    again = ContainerService(svc.config, svc.images, svc.snapshots, rt)
    await again.restore()
    assert again.get("aa").running
    assert again.get("bb").State.ExitCode == 3 and not again.get("bb").running
    await again.stop("aa", timeout=1)
    assert again.get("aa").State.ExitCode == 143
