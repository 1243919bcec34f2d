"""Interop with tools no one here wrote: Debian's umoci and skopeo."""

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from shoal.engine.images import ImageService

needs_umoci = pytest.mark.skipif(not shutil.which("umoci"), reason="umoci is not installed")
needs_skopeo = pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo is not installed")


def run(*args: str | Path) -> str:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{args}: {proc.stderr}"
    return proc.stdout


def tar_dir(src: Path, out: Path) -> Path:
    with tarfile.open(out, "w") as tar:
        for p in sorted(src.iterdir()):
            tar.add(p, arcname=p.name)
    return out


@pytest.fixture(scope="module")
def umoci_layout(busybox_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build an OCI layout with umoci: the busybox rootfs as one layer, a config."""
    if not shutil.which("umoci"):
        pytest.skip("umoci is not installed")
    work = tmp_path_factory.mktemp("umoci")
    rootfs = work / "rootfs"
    rootfs.mkdir()
    with tarfile.open(busybox_tar) as tar:
        tar.extractall(rootfs, filter="fully_trusted")
    layout = work / "layout"
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:bb")
    run("umoci", "insert", "--image", f"{layout}:bb", rootfs, "/")
    run(
        "umoci",
        "config",
        "--image",
        f"{layout}:bb",
        "--config.cmd=sh",
        "--config.env=FOO=bar",
        "--config.label=made.by=umoci",
        "--config.workingdir=/tmp",
    )
    return layout


@pytest.mark.root
@needs_umoci
def test_load_an_oci_layout_built_by_umoci(umoci_layout: Path, tmp_path: Path) -> None:
    images = ImageService(tmp_path / "images")
    (img,) = images.load(tar_dir(umoci_layout, tmp_path / "umoci.tar"))
    index = json.loads((umoci_layout / "index.json").read_text())
    assert img.manifest_digest == index["manifests"][0]["digest"]
    assert img.repo_tags == []  # umoci names it by a bare tag ("bb"), not a repository
    c = img.container_config
    assert c["Cmd"] == ["sh"] and "FOO=bar" in c["Env"] and c["WorkingDir"] == "/tmp"
    assert img.labels == {"made.by": "umoci"}
    (layer,) = img.layers
    assert layer.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"
    with images.open_layer(layer.diff_id) as f, tarfile.open(fileobj=f, mode="r|") as tar:
        assert "bin/busybox" in {m.name.lstrip("./") for m in tar}


@pytest.mark.root
@needs_umoci
@needs_skopeo
def test_load_a_docker_archive_written_by_skopeo(umoci_layout: Path, tmp_path: Path) -> None:
    out = tmp_path / "skopeo.tar"
    run("skopeo", "copy", f"oci:{umoci_layout}:bb", f"docker-archive:{out}:bb:latest")
    images = ImageService(tmp_path / "images")
    (img,) = images.load(out)  # the pre-25 layout: <id>/layer.tar symlinks, repositories ...
    assert img.repo_tags == ["bb:latest"]
    assert img.container_config["Cmd"] == ["sh"]
    assert len(img.layers) == 1 and img.size > 1_000_000


@pytest.fixture
def saved(busybox_tar: Path, tmp_path: Path) -> ImageService:
    images = ImageService(tmp_path / "images")
    images.import_rootfs(busybox_tar, "localhost:5000/shoal/bb:1", ['CMD ["sh"]', "LABEL a=b"])
    return images


@needs_skopeo
@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_skopeo_reads_what_save_writes(saved: ImageService, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"{fmt}.tar"
    saved.save(["localhost:5000/shoal/bb:1"], out, fmt=fmt)
    transport = "docker-archive" if fmt == "docker" else "oci-archive"
    info = json.loads(run("skopeo", "inspect", f"{transport}:{out}"))
    img = saved.get("localhost:5000/shoal/bb:1")
    assert info["Layers"] == img.diff_ids
    assert info["Labels"] == {"a": "b"}
    # a full copy reads and verifies every blob
    run("skopeo", "copy", f"{transport}:{out}", f"oci:{tmp_path / 'copy'}:x")
    copied = json.loads((tmp_path / "copy" / "index.json").read_text())
    assert len(copied["manifests"]) == 1


@pytest.mark.root
@needs_umoci
def test_umoci_unpacks_an_oci_save(saved: ImageService, tmp_path: Path) -> None:
    out = tmp_path / "oci.tar"
    saved.save(["localhost:5000/shoal/bb:1"], out, fmt="oci")
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(out) as tar:
        tar.extractall(layout, filter="data")
    run("umoci", "unpack", "--image", f"{layout}:1", tmp_path / "bundle")
    assert (tmp_path / "bundle" / "rootfs" / "bin" / "busybox").is_file()
    config = json.loads((tmp_path / "bundle" / "config.json").read_text())
    assert config["process"]["args"] == ["sh"]
