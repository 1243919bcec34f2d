"""Interop with the real Docker daemon (Debian's docker.io): `docker load` reads our
docker-archive and we load what `docker save` writes.

A private dockerd runs with its own data root and socket, no iptables rules, no
bridge and no IP forwarding changes, so it leaves the host as it found it.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.engine.images import ImageService

pytestmark = [
    pytest.mark.root,
    pytest.mark.docker,
    pytest.mark.skipif(
        not (shutil.which("dockerd") and shutil.which("docker")),
        reason="docker.io is not installed",
    ),
]


def _mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split()[4].startswith(prefix)]


@pytest.fixture(scope="module")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Start a private dockerd; yield the docker CLI command prefix that talks to it."""
    d = tmp_path_factory.mktemp("dockerd")
    sock = d / "docker.sock"
    log = open(d / "dockerd.log", "wb")
    proc = subprocess.Popen(
        ["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none",
         "--ip-forward=false", "--ip-masq=false", "--storage-driver=vfs",
         f"--data-root={d / 'data'}", f"--exec-root={d / 'exec'}", f"--pidfile={d / 'pid'}",
         f"--host=unix://{sock}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    cli = ["docker", "-H", f"unix://{sock}"]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if (
                sock.exists()
                and subprocess.run([*cli, "version"], capture_output=True).returncode == 0
            ):
                break
            time.sleep(0.2)
        else:
            pytest.skip(f"dockerd did not start: {(d / 'dockerd.log').read_text()[-500:]}")
        yield cli
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        for m in sorted(_mounts_under(str(d)), reverse=True):
            subprocess.run(["umount", "-l", m], check=False)


def run(*args: str | Path) -> str:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{args}: {proc.stderr}"
    return proc.stdout


def test_docker_loads_our_save_and_we_load_docker_save(
    docker: list[str], busybox_tar: Path, tmp_path: Path
) -> None:
    images = ImageService(tmp_path / "images")
    img = images.import_rootfs(busybox_tar, "shoal-bb:1", ['CMD ["sh"]', "LABEL from=shoal"])
    ours = tmp_path / "ours.tar"
    images.save(["shoal-bb:1"], ours)
    assert "Loaded image: shoal-bb:1" in run(*docker, "load", "-i", ours)
    (theirs,) = json.loads(run(*docker, "image", "inspect", "shoal-bb:1"))
    assert theirs["Id"] == img.id
    assert theirs["RootFS"]["Layers"] == img.diff_ids
    assert theirs["Config"]["Cmd"] == ["sh"]
    mine = images.inspect_json(img)
    assert set(mine) <= set(theirs) | {"Metadata"}
    assert set(mine["Config"]) == set(theirs["Config"])

    run(*docker, "tag", "shoal-bb:1", "localhost:5000/back/again:2")
    saved = tmp_path / "docker-save.tar"
    run(*docker, "save", "-o", saved, "localhost:5000/back/again:2")
    fresh = ImageService(tmp_path / "fresh")
    (back,) = fresh.load(saved)
    assert back.id == img.id
    assert back.repo_tags == ["localhost:5000/back/again:2"]
    assert os.path.getsize(saved) > 1_000_000
