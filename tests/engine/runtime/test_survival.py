"""The shim outlives the daemon that created it; a new Runtime finds and controls it."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys

import pytest

from shoal.engine.runtime.cgroups import CgroupManager
from shoal.engine.runtime.runtime import Runtime
from shoal.engine.runtime.state import proc_stat, read_doc

pytestmark = pytest.mark.root

CREATOR = """
import asyncio, sys
from pathlib import Path
from shoal.engine.runtime.runtime import Runtime
from shoal.engine.runtime.spec import ContainerSpec

async def main():
    rt = Runtime(Path(sys.argv[1]))
    spec = ContainerSpec.from_json(sys.argv[2])
    await rt.create(spec)
    print(await rt.start(spec.id), flush=True)
    if sys.argv[3] == "hang":
        await asyncio.sleep(100)

asyncio.run(main())
"""


@pytest.mark.parametrize("death", ["exit", "sigkill"])
async def test_shim_survives_its_creator(harness, death):
    spec = harness.spec(["sh", "-c", "echo started; exec sleep 100"])
    mode = "hang" if death == "sigkill" else "exit"
    creator = subprocess.Popen(
        [sys.executable, "-c", CREATOR, str(harness.rt.root), spec.to_json(), mode],
        stdout=subprocess.PIPE,
    )
    assert creator.stdout is not None
    pid = int(creator.stdout.readline())
    if death == "sigkill":
        creator.kill()
    assert creator.wait(timeout=10) in (0, -signal.SIGKILL)

    fresh = Runtime(harness.rt.root, CgroupManager())  # a restarted daemon
    assert fresh.list() == [spec.id]
    state = fresh.state(spec.id)
    assert (state.status, state.pid) == ("running", pid)
    info = proc_stat(state.shim_pid)
    assert info is not None
    ppid = int(open(f"/proc/{state.shim_pid}/stat").read().rsplit(")", 1)[1].split()[1])
    assert ppid != creator.pid and ppid != os.getpid()
    assert fresh.config(spec.id).process.args[0] == "sh"

    stream = await fresh.attach(spec.id)
    await fresh.kill(spec.id, signal.SIGKILL)
    assert await stream.read() is None and stream.final_state["exit_code"] == 137
    state = await fresh.wait(spec.id)
    assert (state.status, state.exit_code) == ("exited", 137)
    assert open(spec.log_path).read().count("started") == 1
    doc = read_doc(fresh.root / spec.id)
    await fresh.delete(spec.id)
    fresh.close()
    harness.assert_gone(spec, doc)


async def test_wait_survives_a_killed_shim(harness):
    spec = harness.spec(["sleep", "100"])
    await harness.rt.create(spec)
    await harness.rt.start(spec.id)
    state = harness.rt.state(spec.id)
    waiter = asyncio.ensure_future(harness.rt.wait(spec.id))
    shim = os.pidfd_open(state.shim_pid)
    os.kill(state.shim_pid, signal.SIGKILL)  # the container process runs on, parentless
    assert select.select([shim], [], [], 5)[0]
    os.close(shim)
    orphan = harness.rt.state(spec.id)
    assert orphan.status == "running" and orphan.error == "shim exited unexpectedly"
    await harness.rt.kill(spec.id, signal.SIGKILL)  # falls back to the pidfd
    final = await waiter
    assert (final.status, final.exit_code) == ("exited", 255)
    await harness.rt.delete(spec.id)


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_dead_spare_shim_is_replaced(harness, when):
    """A spare that died before (write fails) or after (no "+") it was handed a job."""
    first = harness.spec(["true"])
    await harness.run(first)
    spare = harness.rt.launcher._spare
    assert spare is not None
    if when == "before":
        os.killpg(spare.pgid, signal.SIGKILL)
        await asyncio.sleep(0.05)
    else:
        os.killpg(spare.pgid, signal.SIGSTOP)
        asyncio.get_running_loop().call_later(0.05, os.killpg, spare.pgid, signal.SIGKILL)
    launcher = harness.rt.launcher
    spawned = []
    real_spawn = launcher._spawn
    launcher._spawn = lambda args, *rest: spawned.append(args[0]) or real_spawn(args, *rest)
    state, out, _ = await harness.run(harness.spec(["echo", "ok"]))
    assert (state.exit_code, out) == (0, b"ok\n")
    assert spawned[0] != "--spare" and spawned[1:] == ["--spare"]  # a fresh shim did the job
