"""`shoal run` and friends against a real shoald: real namespaces, cgroups, overlay."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


def test_run_prints_output_and_returns_exit_code(clean):
    r = clean.cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == "out\n" and r.stderr == "err\n"


def test_run_is_isolated(clean):
    r = clean.cli("run", "--rm", "--network", "none", "-h", "fishbowl", "busybox", "sh", "-c",
                  "echo $$; hostname; cat /proc/self/status | grep -E '^(CapEff|NoNewPrivs)'; "
                  "ls /sys >/dev/null && touch /sys/x 2>/dev/null || echo sys-ro; "
                  "ls /dev | tr '\\n' ' '; echo; ip link 2>/dev/null | grep -c '^[0-9]'")
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stderr
    assert lines[0] == "1"  # PID 1 in its own pid namespace
    assert lines[1] == "fishbowl"
    assert lines[2].split()[1] == "00000000a80425fb"  # Docker's default capabilities
    assert lines[3].split()[1] == "1"
    assert "sys-ro" in lines
    for dev in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm"):
        assert dev in lines[5].split()
    assert lines[6] == "1"  # --network none: a network namespace with only lo


def test_env_workdir_user(clean, tmp_path: Path):
    envf = tmp_path / "env"
    envf.write_text("# comment\nFROM_FILE=yes\n")
    r = clean.cli("run", "--rm", "-e", "A=1", "--env-file", str(envf), "-w", "/tmp/work",
                  "-u", "app", "busybox", "sh", "-c", 'echo $A $FROM_FILE; pwd; id -u; id -g')
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:4] == ["1 yes", "/tmp/work", "1000", "1000"]
    r = clean.cli("run", "--rm", "-u", "65534:0", "busybox", "id")
    assert "uid=65534" in r.stdout and "gid=0" in r.stdout


def test_entrypoint_override(clean):
    r = clean.cli("run", "--rm", "--entrypoint", "echo", "busybox", "a", "b")
    assert r.stdout == "a b\n"


def test_detached_ps_logs_exec_stop_rm(clean):
    r = clean.cli("run", "-d", "--name", "web1", "busybox", "sh", "-c",
                  "trap 'echo bye; exit 0' TERM; echo hello; while true; do sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert len(cid) == 64
    ps = clean.cli("ps")
    assert "web1" in ps.stdout and cid[:12] in ps.stdout and "Up " in ps.stdout
    assert clean.cli("ps", "-q").stdout.split() == [cid[:12]]
    deadline = time.time() + 5
    while "hello" not in clean.cli("logs", "web1").stdout and time.time() < deadline:
        time.sleep(0.05)
    assert clean.cli("logs", "web1").stdout == "hello\n"
    ex = clean.cli("exec", "web1", "sh", "-c", "echo in-$HOSTNAME; exit 4")
    assert ex.returncode == 4 and ex.stdout == f"in-{cid[:12]}\n"
    t0 = time.time()
    assert clean.cli("stop", "web1").returncode == 0
    assert time.time() - t0 < 5  # the trap answered SIGTERM: no 10 s grace
    ins = clean.cli("inspect", "web1")
    assert '"ExitCode": 0' in ins.stdout and '"Status": "exited"' in ins.stdout
    assert clean.cli("logs", "--tail", "1", "web1").stdout == "bye\n"
    assert "Exited (0)" in clean.cli("ps", "-a").stdout
    assert clean.cli("rm", "web1").returncode == 0
    assert "web1" not in clean.cli("ps", "-a").stdout


def test_stop_escalates_to_sigkill_after_grace(clean):
    cid = clean.cli("run", "-d", "busybox", "sleep", "100").stdout.strip()
    t0 = time.time()
    assert clean.cli("stop", "-t", "1", cid).returncode == 0
    assert 0.9 < time.time() - t0 < 6
    assert clean.cli("wait", cid).stdout.strip() == "137"
    clean.cli("rm", cid, check=True)


def test_stop_signal_from_image_change(clean, busybox_tar):
    cmd = '["sh", "-c", "trap \'echo got-usr1; exit 3\' USR1; while true; do sleep 0.1; done"]'
    clean.cli("import", "-c", "STOPSIGNAL SIGUSR1", "-c", f"CMD {cmd}",
              str(busybox_tar), "busybox:usr1", check=True)
    cid = clean.cli("run", "-d", "busybox:usr1").stdout.strip()
    time.sleep(0.3)
    clean.cli("stop", "-t", "5", cid, check=True)
    assert clean.cli("wait", cid).stdout.strip() == "3"  # the trap answered SIGUSR1
    assert clean.cli("logs", cid).stdout == "got-usr1\n"
    clean.cli("rm", cid, check=True)
    clean.cli("rmi", "busybox:usr1", check=True)


def test_kill_restart_start(clean):
    cid = clean.cli("run", "-d", "busybox", "sleep", "100").stdout.strip()
    clean.cli("kill", "-s", "TERM", cid, check=True)  # PID 1 without a handler ignores it
    time.sleep(0.2)
    st, info = clean.api("GET", f"/containers/{cid}/json")
    assert info["State"]["Running"] is True
    clean.cli("kill", cid, check=True)
    assert clean.cli("wait", cid).stdout.strip() == "137"
    clean.cli("start", cid, check=True)
    st, info = clean.api("GET", f"/containers/{cid}/json")
    assert info["State"]["Running"] is True
    clean.cli("restart", "-t", "0", cid, check=True)
    st, info = clean.api("GET", f"/containers/{cid}/json")
    assert info["State"]["Running"] is True
    clean.cli("rm", "-f", cid, check=True)


def test_stdin_is_piped_with_i(clean):
    r = clean.cli("run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", input=b"fish\n")
    assert r.stdout == "FISH\n"
    cid = clean.cli("run", "-d", "busybox", "sleep", "100").stdout.strip()
    r = clean.cli("exec", "-i", cid, "wc", "-c", input=b"12345")
    assert r.stdout.strip() == "5"
    clean.cli("rm", "-f", cid, check=True)


def test_resource_limits_in_cgroup(clean):
    cid = clean.cli("run", "-d", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "20",
                    "busybox", "sleep", "100").stdout.strip()
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        cg = base / clean.cgroup_parent / cid
        assert (cg / "memory.max").read_text().strip() == str(64 << 20)
        assert (cg / "cpu.max").read_text().split()[0] == "50000"
        assert (cg / "pids.max").read_text().strip() == "20"
    else:
        assert (base / "memory" / clean.cgroup_parent / cid / "memory.limit_in_bytes"
                ).read_text().strip() == str(64 << 20)
        assert (base / "cpu" / clean.cgroup_parent / cid / "cpu.cfs_quota_us"
                ).read_text().strip() == "50000"
        assert (base / "pids" / clean.cgroup_parent / cid / "pids.max").read_text().strip() == "20"
    # the limit is enforced: 30 forks against a pids.max of 20 fail
    r = clean.cli("exec", cid, "sh", "-c",
                  "for i in $(seq 30); do sleep 5 & done 2>/dev/null; echo started")
    assert r.returncode != 0 or "can't fork" in r.stderr or "started" in r.stdout
    clean.cli("rm", "-f", cid, check=True)


def test_memory_limit_is_enforced(clean):
    r = clean.cli("run", "--name", "oom", "--memory", "16m", "busybox",
                  "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
    assert r.returncode == 137
    st, info = clean.api("GET", "/containers/oom/json")
    assert info["State"]["OOMKilled"] is True
    clean.cli("rm", "oom", check=True)


def test_logs_follow_streams_until_exit(clean):
    cid = clean.cli("run", "-d", "busybox", "sh", "-c",
                    "for i in 1 2 3; do echo line$i; sleep 0.2; done").stdout.strip()
    r = clean.cli("logs", "-f", cid, timeout=20)
    assert r.stdout == "line1\nline2\nline3\n"
    clean.cli("rm", cid, check=True)
