"""CgroupManager on fake v1 and v2 cgroup filesystems, and on this host's real v1."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from shoal.engine.runtime.cgroups import CgroupManager, shares_to_weight
from shoal.engine.runtime.errors import CgroupError
from shoal.engine.runtime.spec import Resources

V1_CONTROLLERS = ["cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"]


@pytest.fixture
def fake_v1(tmp_path: Path) -> Path:
    for c in V1_CONTROLLERS:
        (tmp_path / c).mkdir()
        (tmp_path / c / "cgroup.procs").write_text("")
    (tmp_path / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    (tmp_path / "cpuset" / "cpuset.mems").write_text("0\n")
    (tmp_path / "cpu,cpuacct").symlink_to("cpu")  # co-mounted alias: counted once
    (tmp_path / "unified").mkdir()  # hybrid hosts: a v2 mount inside the v1 root
    (tmp_path / "unified" / "cgroup.procs").write_text("")
    (tmp_path / "unified" / "cgroup.controllers").write_text("")
    return tmp_path


@pytest.fixture
def fake_v2(tmp_path: Path) -> Path:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory\n")
    (tmp_path / "cgroup.procs").write_text("")
    return tmp_path


def test_v1_detects_hierarchies(fake_v1):
    m = CgroupManager(fake_v1)
    assert m.version == 1
    assert sorted(m.hierarchies) == sorted(V1_CONTROLLERS)


def test_v1_create_applies_limits(fake_v1):
    m = CgroupManager(fake_v1)
    m.create(
        "shoal/c1", Resources(memory=64 << 20, cpu_quota=50_000, cpu_shares=512, pids_limit=20)
    )
    assert (fake_v1 / "memory/shoal/c1/memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (fake_v1 / "cpu/shoal/c1/cpu.cfs_quota_us").read_text() == "50000"
    assert (fake_v1 / "cpu/shoal/c1/cpu.cfs_period_us").read_text() == "100000"
    assert (fake_v1 / "cpu/shoal/c1/cpu.shares").read_text() == "512"
    assert (fake_v1 / "pids/shoal/c1/pids.max").read_text() == "20"
    assert (fake_v1 / "cpuset/shoal/c1/cpuset.cpus").read_text() == "0-3"
    assert (fake_v1 / "cpuset/shoal/cpuset.mems").read_text() == "0"
    assert m.exists("shoal/c1") and m.oom_file("shoal/c1").endswith(
        "memory/shoal/c1/memory.oom_control"
    )
    assert m.procs_files("/shoal/c1/") == [
        str(fake_v1 / c / "shoal/c1/cgroup.procs") for c in sorted(V1_CONTROLLERS)
    ]


def test_v1_devices_whitelist(fake_v1):
    m = CgroupManager(fake_v1)
    (fake_v1 / "devices" / "shoal").mkdir()
    (fake_v1 / "devices" / "shoal" / "c1").mkdir()
    (fake_v1 / "devices" / "shoal" / "c1" / "devices.deny").write_text("")
    m.create("shoal/c1")
    assert (fake_v1 / "devices/shoal/c1/devices.deny").read_text() == "a"
    assert (
        fake_v1 / "devices/shoal/c1/devices.allow"
    ).read_text() == "c 10:200 rwm"  # the last rule


def test_v1_add_pids_destroy(fake_v1):
    m = CgroupManager(fake_v1)
    m.create("shoal/c1")
    m.add("shoal/c1", 4242)
    assert (fake_v1 / "pids/shoal/c1/cgroup.procs").read_text() == "4242"
    assert m.pids("shoal/c1") == [4242]
    for c in V1_CONTROLLERS:
        (fake_v1 / c / "shoal/c1/cgroup.procs").write_text("")
    m.destroy("shoal/c1")
    assert not m.exists("shoal/c1")
    assert (fake_v1 / "memory/shoal").is_dir()
    m.destroy("shoal/c1")  # idempotent


def test_v2_detects_and_enables_controllers(fake_v2):
    m = CgroupManager(fake_v2)
    assert m.version == 2 and m.dirs("shoal/c1") == [fake_v2 / "shoal/c1"]
    (fake_v2 / "shoal").mkdir()
    (fake_v2 / "shoal" / "cgroup.controllers").write_text("cpu memory pids\n")
    m.create("shoal/c1", Resources(memory=1 << 30, cpu_quota=25_000, cpu_period=50_000,
                                   cpu_shares=1024, pids_limit=100))  # fmt: skip
    assert (fake_v2 / "cgroup.subtree_control").read_text() == "+cpuset +cpu +io +pids"
    assert (fake_v2 / "shoal/cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    leaf = fake_v2 / "shoal/c1"
    assert (leaf / "memory.max").read_text() == str(1 << 30)
    assert (leaf / "cpu.max").read_text() == "25000 50000"
    assert (leaf / "cpu.weight").read_text() == "39"
    assert (leaf / "pids.max").read_text() == "100"
    assert m.procs_files("shoal/c1") == [str(leaf / "cgroup.procs")]
    assert m.oom_file("shoal/c1") == str(leaf / "memory.events")
    (leaf / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert m.oom_kill_count("shoal/c1") == 1


def test_v2_kill_and_destroy(fake_v2):
    m = CgroupManager(fake_v2)
    m.create("shoal/c1/sub")
    (fake_v2 / "shoal/c1/cgroup.kill").write_text("")
    m.destroy("shoal/c1")
    assert not (fake_v2 / "shoal/c1").exists() and (fake_v2 / "shoal").is_dir()


def test_write_errors_are_cgroup_errors(fake_v2):
    m = CgroupManager(fake_v2)
    (fake_v2 / "shoal").mkdir()
    (fake_v2 / "shoal" / "c1").mkdir()
    (fake_v2 / "shoal" / "c1" / "memory.max").mkdir()  # writing it fails
    with pytest.raises(CgroupError, match="memory.max"):
        m.create("shoal/c1", Resources(memory=1 << 20))


def test_shares_to_weight():
    assert [shares_to_weight(s) for s in (2, 1024, 262144, 0)] == [1, 39, 10000, 1]


@pytest.mark.root
def test_real_v1_on_this_host():
    m = CgroupManager()
    if m.version != 1:
        pytest.skip("this host is not cgroup v1")
    path = f"shoal-test-{uuid.uuid4().hex[:8]}/c1"
    m.create(path, Resources(memory=32 << 20, cpu_quota=10_000, pids_limit=16))
    try:
        mem = m.hierarchies["memory"] / path
        assert (mem / "memory.limit_in_bytes").read_text().strip() == str(32 << 20)
        assert (m.hierarchies["pids"] / path / "pids.max").read_text().strip() == "16"
        sleeper = subprocess.Popen(["sleep", "60"])
        m.add(path, sleeper.pid)
        assert m.pids(path) == [sleeper.pid]
        assert f":/{path}" in Path(f"/proc/{sleeper.pid}/cgroup").read_text()
        m.destroy(path)
        assert sleeper.wait(timeout=5) == -9
        assert not m.exists(path)
    finally:
        m.destroy(path)
        m.destroy(path.split("/")[0])
    assert not m.exists(path.split("/")[0]) and os.path.exists("/sys/fs/cgroup/memory")


UNIFIED = Path("/sys/fs/cgroup/unified")


@pytest.mark.root
def test_real_v2_on_the_hybrid_unified_mount():
    if not (UNIFIED / "cgroup.controllers").exists():
        pytest.skip("no cgroup2 mount at /sys/fs/cgroup/unified")
    m = CgroupManager(UNIFIED)
    assert m.version == 2
    parent = f"shoal-test-{uuid.uuid4().hex[:8]}"
    path = f"{parent}/c1"
    m.create(path)  # no controller is free for v2 here: only the tree and its procs
    try:
        sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
        for s in sleepers:
            m.add(path, s.pid)
        assert m.pids(path) == sorted(s.pid for s in sleepers)
        m.destroy(path)  # cgroup.kill, then rmdir
        assert [s.wait(timeout=5) for s in sleepers] == [-9, -9, -9]
        assert not m.exists(path)
    finally:
        m.destroy(parent)
    assert not m.exists(parent)
