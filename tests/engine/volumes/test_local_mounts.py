"""Root tests of local driver options: volumes whose filesystem is mounted while used."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shoal.engine.volumes import VolumeService, release_mounts, resolve_mounts, start_mounts
from shoal.engine.volumes.errors import VolumeSystemError
from shoal.engine.volumes.local import is_mounted

from .conftest import mounts_below, new_cid

pytestmark = pytest.mark.root


@pytest.fixture
def svc(tmp_path):
    s = VolumeService(tmp_path / "volumes")
    yield s
    for v in s.list():
        for cid in v.mounted_by + v.refs:
            s.release(v.name, cid)
    assert mounts_below(str(tmp_path)) == [], "a test left mounts behind"


def _fstype(path: str) -> str:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                return fields[fields.index("-") + 1]
    return ""


def test_tmpfs_volume_is_mounted_from_first_start_to_last_stop(svc):
    v = svc.create("tv", options={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    assert not is_mounted(v.mountpoint)
    svc.mount("tv", "c1")
    svc.mount("tv", "c2")
    assert _fstype(v.mountpoint) == "tmpfs"
    Path(v.mountpoint, "f").write_text("x")
    svc.unmount("tv", "c1")
    assert is_mounted(v.mountpoint)
    svc.unmount("tv", "c2")
    assert not is_mounted(v.mountpoint) and not Path(v.mountpoint, "f").exists()
    svc.remove("tv")


def test_bind_volume_keeps_the_host_data_on_remove(svc, tmp_path):
    host = tmp_path / "srv"
    host.mkdir()
    (host / "keep").write_text("k")
    svc.create("bv", options={"type": "none", "o": "bind", "device": str(host)})
    cid = new_cid()
    res = resolve_mounts({"Binds": ["bv:/srv"]}, None, cid, svc)
    start_mounts(res, svc, cid)
    assert Path(svc.get("bv").mountpoint, "keep").read_text() == "k"
    release_mounts(res, svc, cid)  # also drops the mount of a container removed running
    assert not is_mounted(svc.get("bv").mountpoint)
    svc.remove("bv")
    assert (host / "keep").read_text() == "k"


def test_a_failed_mount_is_a_clear_error_and_undone(svc, tmp_path):
    svc.create("good", options={"type": "tmpfs", "device": "tmpfs"})
    svc.create("bad", options={"type": "none", "o": "bind", "device": str(tmp_path / "nope")})
    cid = new_cid()
    res = resolve_mounts({"Binds": ["good:/a", "bad:/b"]}, None, cid, svc)
    with pytest.raises(VolumeSystemError, match="error while mounting volume"):
        start_mounts(res, svc, cid)
    assert not is_mounted(svc.get("good").mountpoint) and svc.get("good").mounted_by == []
    release_mounts(res, svc, cid)


def test_remove_never_deletes_through_a_mount(svc, tmp_path):
    host = tmp_path / "precious"
    host.mkdir()
    (host / "data").write_text("d")
    v = svc.create("plain")
    inner = Path(v.mountpoint, "sub")
    inner.mkdir()
    subprocess.run(["mount", "--bind", str(host), str(inner)], check=True)
    try:
        with pytest.raises(VolumeSystemError, match="still mounted"):
            svc.remove("plain")
        assert (host / "data").exists() and svc.exists("plain")
    finally:
        subprocess.run(["umount", str(inner)], check=True)
    svc.remove("plain")
    assert (host / "data").exists()


def test_restart_then_reconcile_unmounts_what_no_running_container_uses(tmp_path):
    root = tmp_path / "volumes"
    svc = VolumeService(root)
    v = svc.create("tv", options={"type": "tmpfs", "device": "tmpfs"}, reference="c1")
    svc.mount("tv", "c1")
    svc2 = VolumeService(root)  # a daemon restart: the mount and its user are remembered
    assert svc2.get("tv").mounted_by == ["c1"]
    svc2.mount("tv", "c2")
    assert mounts_below(v.mountpoint) == [v.mountpoint]  # not mounted twice
    svc2.reconcile({"c1": ["tv"], "c2": ["tv"]}, running=["c2"])
    assert svc2.get("tv").mounted_by == ["c2"] and is_mounted(v.mountpoint)
    svc2.reconcile({"c1": ["tv"]}, running=[])
    assert not is_mounted(v.mountpoint)
    assert svc2.get("tv").refs == ["c1"] and svc2.get("tv").mounted_by == []
