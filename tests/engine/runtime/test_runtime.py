"""Integration tests of the Runtime: real namespaces, cgroups (v1 here) and shims."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from shoal.engine.errors import NotRunning
from shoal.engine.runtime.cgroups import CgroupManager
from shoal.engine.runtime.errors import (
    AlreadyExists,
    ExecNotFound,
    ExecPermission,
    NoSuchProcess,
    StartFailed,
    StillRunning,
)
from shoal.engine.runtime.runtime import Runtime
from shoal.engine.runtime.spec import Mount, Resources
from shoal.engine.runtime.state import read_doc

pytestmark = pytest.mark.root


async def test_echo_lands_in_log_and_attach(harness):
    spec = harness.spec(["sh", "-c", "echo hi; echo oops >&2; printf tail"])
    state, out, err = await harness.run(spec)
    assert (state.status, state.exit_code, out, err) == ("exited", 0, b"hi\ntail", b"oops\n")
    lines = [json.loads(ln) for ln in Path(spec.log_path).read_text().splitlines()]
    by_stream = {(ln["stream"], ln["log"]) for ln in lines}
    assert by_stream == {("stdout", "hi\n"), ("stderr", "oops\n"), ("stdout", "tail")}
    for ln in lines:
        assert ln["time"].endswith("Z") and len(ln["time"]) == len("2026-11-28T05:33:01.123456789Z")
    assert state.started_at and state.finished_at >= state.started_at


@pytest.mark.parametrize(("script", "code"), [("true", 0), ("exit 3", 3)])
async def test_exit_codes(harness, script, code):
    state, _, _ = await harness.run(harness.spec(["sh", "-c", script]))
    assert state.exit_code == code


async def test_sigkill_exit_code(harness):
    spec = harness.spec(["sleep", "100"])
    await harness.rt.create(spec)
    await harness.rt.start(spec.id)
    await harness.rt.kill(spec.id, signal.SIGKILL)
    state = await harness.rt.wait(spec.id)
    assert (state.status, state.exit_code, state.oom_killed) == ("exited", 137, False)


async def test_identity_inside(harness):
    spec = harness.spec(
        ["sh", "-c", 'echo $$; hostname; echo "$FOO"; pwd; cat /proc/self/status'],
        hostname="box1",
        env=["PATH=/bin", "FOO=bar baz"],
        cwd="/work/here",
    )
    state, out, _ = await harness.run(spec)
    lines = out.decode().splitlines()
    assert lines[:4] == ["1", "box1", "bar baz", "/work/here"]
    status = dict(ln.split(":\t", 1) for ln in lines[4:] if ":\t" in ln)
    assert status["CapEff"] == status["CapPrm"] == status["CapBnd"] == "00000000a80425fb"
    assert status["CapInh"] == status["CapAmb"] == "0000000000000000"
    assert status["NoNewPrivs"] == "1"
    assert state.exit_code == 0


async def test_user_and_groups(harness):
    spec = harness.spec(["sh", "-c", "id; grep Cap /proc/self/status; touch /root/x"],
                        uid=1000, gid=1000, additional_gids=[10])  # fmt: skip
    state, out, err = await harness.run(spec)
    text = out.decode()
    assert "uid=1000(app) gid=1000(app)" in text and "10(wheel)" in text
    assert "CapEff:\t0000000000000000" in text and "CapPrm:\t0000000000000000" in text
    assert "CapBnd:\t00000000a80425fb" in text
    assert b"Permission denied" in err and state.exit_code == 1


async def test_filesystems(harness):
    script = (
        "test -c /dev/null && test -c /dev/urandom && test -L /dev/fd && test -d /dev/pts"
        " && test -d /dev/shm && echo dev-ok;"
        " touch /sys/x 2>/dev/null || echo sys-ro;"
        " echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo procsys-ro;"
        " test -s /proc/kcore || echo kcore-masked;"
        " touch /newfile && echo rootfs-rw;"
        " cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ';"
        " cat /sys/class/net/lo/operstate;"
        " cat /data/f; touch /data/g 2>/dev/null || echo data-ro; df -P /scratch | tail -1"
    )
    data = harness.tmp / "data"
    data.mkdir()
    (data / "f").write_text("from-host\n")
    spec = harness.spec(
        ["sh", "-c", script],
        mounts=[
            Mount(destination="/data", source=str(data), options=["rbind", "ro"]),
            Mount(destination="/scratch", type="tmpfs", source="tmpfs", options=["size=1m"]),
        ],
    )
    state, out, err = await harness.run(spec)
    lines = out.decode().split()
    assert lines[:5] == ["dev-ok", "sys-ro", "procsys-ro", "kcore-masked", "rootfs-rw"]
    assert lines[5:8] == ["lo", "unknown", "from-host"]  # only lo, and it is up
    assert "data-ro" in lines and "tmpfs" in lines, (out, err)
    assert state.exit_code == 0
    assert str(harness.rootfs) not in Path("/proc/self/mountinfo").read_text()


async def test_readonly_rootfs(harness):
    spec = harness.spec(
        ["sh", "-c", "pwd; touch /x || echo ro; touch /tmp/y || echo tmp-ro"],
        readonly_rootfs=True,
        cwd="/new/dir",
    )
    _, out, _ = await harness.run(spec)
    assert out.split() == [b"/new/dir", b"ro", b"tmp-ro"]


async def test_memory_limit_and_oom(harness):
    spec = harness.spec(["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
                        resources=Resources(memory=16 << 20))  # fmt: skip
    limit = harness.rt.cgroups._dir("memory", spec.cgroup_path)
    await harness.rt.create(spec)
    assert limit is not None
    assert (limit / "memory.limit_in_bytes").read_text().strip() == str(16 << 20)
    await harness.rt.start(spec.id)
    state = await harness.rt.wait(spec.id)
    assert (state.exit_code, state.oom_killed) == (137, True)


async def test_pids_limit(harness):
    script = "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait; echo done"
    spec = harness.spec(["sh", "-c", script], resources=Resources(pids_limit=4))
    state, out, err = await harness.run(spec)
    pids = harness.rt.cgroups._dir("pids", spec.cgroup_path)
    assert pids is not None and (pids / "pids.max").read_text().strip() == "4"
    assert b"can't fork" in err or b"Resource temporarily unavailable" in err, err


async def test_tty_and_resize(harness):
    spec = harness.spec(["sh", "-c", "tty; stty size; read x; stty size"],
                        tty=True, stdin=True, console_height=40, console_width=120)  # fmt: skip
    await harness.rt.create(spec)
    stream = await harness.rt.attach(spec.id, stdin=True)
    await harness.rt.start(spec.id)
    out = b""
    while b"40 120" not in out:
        chunk = await stream.read()
        assert chunk is not None, out
        out += chunk[1]
    await harness.rt.resize(spec.id, 30, 100)
    await stream.write(b"go\n")
    while (chunk := await stream.read()) is not None:
        assert chunk[0] == 1
        out += chunk[1]
    assert out.replace(b"\r\n", b"\n") == b"/dev/pts/0\n40 120\ngo\n30 100\n"
    assert (await harness.rt.wait(spec.id)).exit_code == 0
    log = [json.loads(ln) for ln in Path(spec.log_path).read_text().splitlines()]
    assert {ln["stream"] for ln in log} == {"stdout"}


async def test_stdin_pipe(harness):
    state, out, _ = await harness.run(harness.spec(["cat"], stdin=True), stdin=b"a\nb" * 50000)
    assert out == b"a\nb" * 50000 and state.exit_code == 0


async def test_no_stdin_reads_devnull(harness):
    state, out, _ = await harness.run(harness.spec(["sh", "-c", "cat; echo end"]))
    assert out == b"end\n" and state.exit_code == 0


async def test_exec_not_found(harness):
    spec = harness.spec(["nosuchcmd"])
    await harness.rt.create(spec)
    with pytest.raises(
        ExecNotFound, match=r'exec: "nosuchcmd": executable file not found in \$PATH'
    ):
        await harness.rt.start(spec.id)
    state = harness.rt.state(spec.id)  # already final when start() raises
    assert (state.status, state.exit_code) == ("exited", 127)
    assert "executable file not found" in state.error
    doc = read_doc(harness.rt.root / spec.id)
    await harness.rt.delete(spec.id)
    harness.assert_gone(spec, doc)


async def test_exec_permission_denied(harness):
    spec = harness.spec(["/etc/passwd"])
    await harness.rt.create(spec)
    with pytest.raises(ExecPermission):
        await harness.rt.start(spec.id)
    assert (await harness.rt.wait(spec.id)).exit_code == 126


async def test_create_failure_undoes_everything(harness):
    spec = harness.spec(["true"])
    spec.rootfs = str(harness.tmp / "missing")
    with pytest.raises(StartFailed, match="missing"):
        await harness.rt.create(spec)
    assert not (harness.rt.root / spec.id).exists()
    assert not harness.rt.cgroups.exists(spec.cgroup_path)


async def test_kill_stop_and_delete(harness):
    spec = harness.spec(
        ["sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done"]
    )
    await harness.rt.create(spec)
    with pytest.raises(AlreadyExists):
        await harness.rt.create(spec)
    stream = await harness.rt.attach(spec.id)
    pid = await harness.rt.start(spec.id)
    assert await stream.read() == (1, b"ready\n")
    assert harness.rt.state(spec.id).status == "running"
    assert harness.rt.state(spec.id).pid == pid
    with pytest.raises(StillRunning):
        await harness.rt.delete(spec.id)
    await harness.rt.kill(spec.id, signal.SIGTERM)
    assert (await harness.rt.wait(spec.id)).exit_code == 7
    with pytest.raises(NotRunning):
        await harness.rt.kill(spec.id, signal.SIGTERM)
    doc = read_doc(harness.rt.root / spec.id)
    await harness.rt.delete(spec.id)
    harness.assert_gone(spec, doc)
    with pytest.raises(NoSuchProcess):
        harness.rt.state(spec.id)


async def test_force_delete_created_and_running(harness):
    created = harness.spec(["sleep", "100"])
    running = harness.spec(["sleep", "100"])
    await harness.rt.create(created)
    await harness.rt.create(running)
    await harness.rt.start(running.id)
    assert harness.rt.state(created.id).status == "created"
    docs = [read_doc(harness.rt.root / s.id) for s in (created, running)]
    assert sorted(harness.rt.list()) == sorted([created.id, running.id])
    await asyncio.gather(
        harness.rt.delete(created.id, force=True), harness.rt.delete(running.id, force=True)
    )
    harness.assert_gone(created, docs[0])
    harness.assert_gone(running, docs[1])


async def test_host_network(harness):
    spec = harness.spec(["sh", "-c", "cat /proc/net/dev | wc -l"], net_namespace="host")
    _, out, _ = await harness.run(spec)
    host_lines = len(Path("/proc/net/dev").read_text().splitlines())
    assert int(out) == host_lines


async def test_join_network_namespace_by_path(harness):
    first = harness.spec(["sleep", "100"])
    await harness.rt.create(first)
    pid = await harness.rt.start(first.id)
    netns = f"/proc/{pid}/ns/net"
    second = harness.spec(["readlink", "/proc/self/ns/net"], net_namespace=netns)
    _, out, _ = await harness.run(second)
    assert out.decode().strip() == Path(netns).readlink().name


async def test_custom_capabilities(harness):
    spec = harness.spec(
        ["grep", "Cap", "/proc/self/status"],
        capabilities=["CAP_NET_ADMIN", "KILL"],
        no_new_privileges=False,
    )
    _, out, _ = await harness.run(spec)
    status = dict(ln.split(":\t", 1) for ln in out.decode().splitlines())
    assert status["CapEff"] == status["CapBnd"] == f"{(1 << 12) | (1 << 5):016x}"


async def test_long_ids_and_paths(harness):
    # sun_path holds 108 bytes: longer socket paths go through /proc/self/fd/N/.
    spec = harness.spec(["echo", "long"], id="f" * 64)
    assert len(str(harness.rt.root / spec.id / "shim.sock")) > 108
    state, out, _ = await harness.run(spec)
    assert (state.exit_code, out) == (0, b"long\n")


async def test_runs_under_a_cgroup_v2_manager(harness):
    unified = Path("/sys/fs/cgroup/unified")
    if not (unified / "cgroup.controllers").exists():
        pytest.skip("no cgroup2 mount at /sys/fs/cgroup/unified")
    rt = Runtime(harness.tmp / "v2shims", CgroupManager(unified))
    spec = harness.spec(["cat", "/proc/self/cgroup"])
    try:
        await rt.create(spec)
        stream = await rt.attach(spec.id)
        await rt.start(spec.id)
        out = b""
        while (chunk := await stream.read()) is not None:
            out += chunk[1]
        assert (await rt.wait(spec.id)).exit_code == 0
        assert f"0::/{spec.cgroup_path}\n".encode() in out
        await rt.delete(spec.id)
        assert not (unified / spec.cgroup_path).exists()
    finally:
        rt.close()
        rt.cgroups.destroy(harness.cgroup_parent)
