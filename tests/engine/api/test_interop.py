"""Images made by tools no one here wrote are loaded and run by shoal."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


def _umoci_layout(tmp: Path, busybox_tar: Path) -> Path:
    """Build an OCI image layout with umoci: busybox rootfs, a Cmd and an Env."""
    layout = tmp / "layout"
    subprocess.run(["umoci", "init", "--layout", str(layout)], check=True)
    subprocess.run(["umoci", "new", "--image", f"{layout}:v1"], check=True)
    bundle = tmp / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:v1", str(bundle)], check=True)
    with tarfile.open(busybox_tar) as t:
        t.extractall(bundle / "rootfs", filter="fully_trusted")
    subprocess.run(["umoci", "repack", "--image", f"{layout}:v1", str(bundle)], check=True)
    subprocess.run(["umoci", "config", "--image", f"{layout}:v1",
                    "--config.cmd", "sh", "--config.cmd", "-c",
                    "--config.cmd", "echo made-by-umoci $WHO",
                    "--config.env", "WHO=umoci"], check=True)
    out = tmp / "umoci.tar"
    with tarfile.open(out, "w") as t:
        for p in layout.iterdir():
            t.add(p, arcname=p.name)
    return out


@pytest.mark.skipif(not shutil.which("umoci"), reason="umoci not installed")
def test_load_and_run_umoci_oci_layout(clean, tmp_path, busybox_tar):
    archive = _umoci_layout(tmp_path, busybox_tar)
    r = clean.cli("load", "-i", str(archive))
    assert r.returncode == 0, r.stderr
    st, images = clean.api("GET", "/images/json")
    loaded = [i for i in images if not any(t.startswith("busybox") for t in i["RepoTags"] or [])]
    assert loaded, images
    ref = (loaded[0]["RepoTags"] or [loaded[0]["Id"]])[0]
    r = clean.cli("run", "--rm", ref)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "made-by-umoci umoci\n"
    clean.cli("rmi", "-f", ref, check=True)


@pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo not installed")
def test_save_is_read_by_skopeo_and_roundtrips(clean, tmp_path):
    for fmt, transport in (("docker", "docker-archive"), ("oci", "oci-archive")):
        out = tmp_path / f"busybox-{fmt}.tar"
        r = clean.cli("save", "--format", fmt, "-o", str(out), "busybox:latest")
        assert r.returncode == 0, r.stderr
        info = subprocess.run(["skopeo", "inspect", f"{transport}:{out}"],
                              capture_output=True, text=True)
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["Layers"]
        # skopeo rewrites it; shoal loads skopeo's copy and runs it
        copy = tmp_path / f"copy-{fmt}.tar"
        subprocess.run(["skopeo", "copy", f"{transport}:{out}",
                        f"docker-archive:{copy}:skopeo/copy:{fmt}"], check=True,
                       capture_output=True)
        assert clean.cli("load", "-i", str(copy)).returncode == 0
        r = clean.cli("run", "--rm", f"skopeo/copy:{fmt}", "echo", "ok")
        assert r.stdout == "ok\n", r.stderr
        clean.cli("rmi", f"skopeo/copy:{fmt}", check=True)
