"""Integration tests of exec: a process joining a running container."""

from __future__ import annotations

import signal

import pytest

from shoal.engine.errors import NotRunning
from shoal.engine.runtime.errors import AlreadyExists, ExecNotFound, StartFailed
from shoal.engine.runtime.spec import Process
from shoal.engine.runtime.state import alive, read_doc

pytestmark = pytest.mark.root

ENV = ["PATH=/bin"]


async def _collect(stream):
    out = {1: b"", 2: b""}
    while (chunk := await stream.read()) is not None:
        out[chunk[0]] += chunk[1]
    return out


async def _running(harness, **kw):
    spec = harness.spec(["sleep", "100"], hostname="ctr", **kw)
    await harness.rt.create(spec)
    await harness.rt.start(spec.id)
    return spec


async def test_exec_joins_the_container(harness):
    spec = await _running(harness)
    script = "echo $$; hostname; tr '\\0' ' ' < /proc/1/cmdline; echo; pwd; id -u; exit 5"
    proc = Process(args=["sh", "-c", script], env=ENV, cwd="/tmp", uid=1000, gid=1000)
    await harness.rt.exec_create(spec.id, "x1", proc)
    with pytest.raises(AlreadyExists):
        await harness.rt.exec_create(spec.id, "x1", proc)
    assert harness.rt.state("x1").status == "created"
    stream = await harness.rt.attach("x1")
    pid = await harness.rt.start("x1")
    out = await _collect(stream)
    lines = out[1].decode().splitlines()
    assert lines[0] != "1" and lines[1:] == ["ctr", "sleep 100 ", "/tmp", "1000"]
    state = await harness.rt.wait("x1")
    assert (state.exit_code, state.pid, state.container_id) == (5, pid, spec.id)
    procs = (harness.rt.cgroups.dirs(spec.cgroup_path)[0] / "cgroup.procs").read_text().split()
    assert str(harness.rt.state(spec.id).pid) in procs
    assert harness.rt.list() == [spec.id] and harness.rt.list_execs(spec.id) == ["x1"]


async def test_exec_stdin_and_tty(harness):
    spec = await _running(harness)
    await harness.rt.exec_create(spec.id, "cat", Process(args=["cat"], env=ENV, stdin=True))
    stream = await harness.rt.attach("cat", stdin=True)
    await harness.rt.start("cat")
    await stream.write(b"ping\n")
    await stream.close_stdin()
    assert (await _collect(stream))[1] == b"ping\n"
    await harness.rt.exec_create(spec.id, "tty", Process(args=["tty"], env=ENV, tty=True))
    stream = await harness.rt.attach("tty")
    await harness.rt.start("tty")
    assert (await _collect(stream))[1] == b"/dev/pts/0\r\n"


async def test_exec_not_found_is_clear_and_cleaned_up(harness):
    spec = await _running(harness)
    await harness.rt.exec_create(spec.id, "bad", Process(args=["nope"], env=ENV))
    doc = read_doc(harness.rt.root / "bad")
    with pytest.raises(ExecNotFound, match=r'exec: "nope": executable file not found in \$PATH'):
        await harness.rt.start("bad")
    state = harness.rt.state("bad")
    assert (state.status, state.exit_code) == ("exited", 127)
    await harness.rt.delete("bad")
    assert not (harness.rt.root / "bad").exists()
    assert not alive(doc["shim_pid"], doc["shim_start"]) and not alive(doc["pid"], doc["pid_start"])
    assert harness.rt.state(spec.id).status == "running"


async def test_exec_dies_with_its_container(harness):
    spec = await _running(harness)
    await harness.rt.exec_create(spec.id, "long", Process(args=["sleep", "100"], env=ENV))
    await harness.rt.start("long")
    await harness.rt.kill(spec.id, signal.SIGKILL)
    assert (await harness.rt.wait("long")).exit_code == 137
    with pytest.raises(NotRunning):
        await harness.rt.exec_create(spec.id, "late", Process(args=["true"], env=ENV))
    # The exec's exit can be recorded before the container's own: wait for that too.
    assert (await harness.rt.wait(spec.id)).exit_code == 137
    await harness.rt.delete(spec.id)
    assert harness.rt.list_execs(spec.id) == [] and list(harness.rt.root.iterdir()) == []


async def test_exec_in_a_missing_workdir_fails_clearly(harness):
    spec = await _running(harness)
    proc = Process(args=["true"], env=ENV, cwd="/no/such/dir")
    with pytest.raises(StartFailed, match=r'chdir to cwd \("/no/such/dir"\) set in config.json'):
        await harness.rt.exec_create(spec.id, "nowd", proc)
    assert not (harness.rt.root / "nowd").exists()
