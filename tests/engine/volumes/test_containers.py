"""Root integration tests: resolved mounts in real containers (runtime + busybox rootfs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shoal.engine.volumes import (
    VolumeService,
    release_mounts,
    resolve_mounts,
    start_mounts,
    stop_mounts,
)

from .conftest import new_cid

pytestmark = pytest.mark.root


async def _run(runner, svc, hc, script, image_volumes=None):
    """Resolve HC for a new container, run SCRIPT in it, release; return (code, out, err, res)."""
    cid = new_cid()
    res = resolve_mounts(hc, image_volumes, cid, svc, runner.rootfs)
    try:
        mounts = start_mounts(res, svc, cid)
        try:
            code, out, err = await runner.run(cid[:32], script, mounts)
        finally:
            stop_mounts(res, svc, cid)
    finally:
        release_mounts(res, svc, cid)
    return code, out, err, res


async def test_named_volume_outlives_its_container_and_ro_is_enforced(runner, tmp_path):
    svc = VolumeService(tmp_path / "volumes")
    code, _, err, _ = await _run(runner, svc, {"Binds": ["data:/data"]},
                                 "echo hello > /data/f && mkdir /data/d")  # fmt: skip
    assert code == 0, err
    assert Path(svc.get("data").mountpoint, "f").read_text() == "hello\n"
    code, out, err, _ = await _run(
        runner, svc, {"Mounts": [{"Type": "volume", "Source": "data", "Target": "/again",
                                  "ReadOnly": True}]},
        "cat /again/f; touch /again/g",
    )  # fmt: skip
    assert out == "hello\n"
    assert code != 0 and "Read-only file system" in err
    assert sorted(os.listdir(svc.get("data").mountpoint)) == ["d", "f"]
    assert svc.users("data") == []


async def test_ro_host_bind_and_tmpfs(runner, tmp_path):
    svc = VolumeService(tmp_path / "volumes")
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("from host\n")
    hc = {"Binds": [f"{host}:/h:ro"], "Tmpfs": {"/scratch": "size=1m,mode=1777"}}
    script = (
        "cat /h/in; touch /h/out 2>/dev/null && echo wrote; grep ' /scratch ' /proc/mounts; "
        "stat -c %a /scratch; dd if=/dev/zero of=/scratch/big bs=1k count=2048 2>/dev/null "
        "|| echo full"
    )
    code, out, err, _ = await _run(runner, svc, hc, script)
    lines = out.splitlines()
    assert lines[0] == "from host" and "wrote" not in out
    assert lines[1].startswith("tmpfs /scratch tmpfs rw,nosuid,nodev,noexec")
    assert "size=1024k" in lines[1] and lines[2] == "1777" and lines[3] == "full"
    assert not (host / "out").exists()


async def test_image_volume_is_filled_from_the_image(runner, tmp_path):
    svc = VolumeService(tmp_path / "volumes")
    code, out, err, res = await _run(runner, svc, {}, "cat /etc/group | head -1; echo new > /etc/x",
                                     image_volumes={"/etc": {}})  # fmt: skip
    assert code == 0, err
    assert out == "root:x:0:\n"
    (anon,) = res.anonymous
    data = Path(svc.get(anon).mountpoint)
    assert (data / "passwd").exists() and (data / "x").read_text() == "new\n"
    assert not (runner.rootfs / "etc" / "x").exists()
    size = svc.size(anon)
    assert size > 0 and svc.prune() == ([anon], size)
