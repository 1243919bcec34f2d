"""Pull of a ~50 MB image from a local registry: shoal vs skopeo, measured in the same run.

    python bench/_pull.py [-n 5]

Starts Debian's docker-registry on 127.0.0.1, loads an image of five 10 MB layers
of random (incompressible, gzip-wrapped) data into a private shoald and pushes it
once. Then, N times each (after one warm-up):
  shoal   `shoal pull REF` into an empty image store (`shoal rmi` between runs, untimed)
  skopeo  `skopeo copy docker://REF oci:DIR:x` into a fresh directory
Target: shoal <= 1.5x skopeo.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Shoald, rmtree, tempdir

LAYERS = 5
LAYER_BYTES = 10 << 20


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(i: int) -> tuple[bytes, bytes]:
    """Return (uncompressed tar, gzip blob) of one file of random bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = os.urandom(LAYER_BYTES)
        info = tarfile.TarInfo(f"data/blob{i}")
        info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
        tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, compresslevel=1, mtime=0)


def make_layout_tar(dest: Path, name: str) -> Path:
    """Write an OCI image layout tar holding one image of LAYERS random layers, named NAME."""
    blobs: dict[str, bytes] = {}
    descs, diff_ids = [], []
    for i in range(LAYERS):
        raw, gz = _layer(i)
        blobs[_sha(gz)] = gz
        diff_ids.append(_sha(raw))
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": _sha(gz), "size": len(gz)})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    blobs[_sha(config)] = config
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _sha(config), "size": len(config)},
        "layers": descs}).encode()
    blobs[_sha(manifest)] = manifest
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _sha(manifest),
        "size": len(manifest), "annotations": {"io.containerd.image.name": name}}]}).encode()
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
    files.update({f"blobs/sha256/{d[7:]}": b for d, b in blobs.items()})
    with tarfile.open(dest, "w") as tar:
        for n, data in files.items():
            info = tarfile.TarInfo(n)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dest


class Registry:
    """docker-registry on a free loopback port, storing under ROOT."""

    def __init__(self, root: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        root.mkdir(parents=True, exist_ok=True)
        cfg = root / "config.yml"
        cfg.write_text(f"version: 0.1\nlog: {{level: warn}}\n"
                       f"storage: {{filesystem: {{rootdirectory: {root / 'storage'}}}}}\n"
                       f"http: {{addr: '{self.host}'}}\n")
        log = open(root / "registry.log", "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("docker-registry did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _check(r: subprocess.CompletedProcess[bytes], what: str) -> None:
    if r.returncode != 0:
        raise RuntimeError(f"{what} failed: {r.stderr.decode(errors='replace')[-500:]}")


def run(n: int = 5) -> list[tuple[str, float, float]]:
    """Return [(label, shoal median s, skopeo median s)] for the 50 MB pull."""
    if not shutil.which("docker-registry") or not shutil.which("skopeo"):
        raise RuntimeError("docker-registry and skopeo are needed (apt install docker-registry "
                           "skopeo)")
    root = tempdir("shoal-bench-pull-")
    reg = Registry(root / "registry")
    pusher, puller = Shoald(root / "pusher"), Shoald(root / "puller")
    ref = f"{reg.host}/bench/random:50m"
    try:
        pusher.start()
        puller.start()
        tar = make_layout_tar(root / "image.tar", ref)
        _check(pusher.cli("load", "-i", str(tar), capture_output=True), "shoal load")
        _check(pusher.cli("push", ref, capture_output=True), "shoal push")

        def shoal_once() -> float:
            t0 = time.perf_counter()
            _check(puller.cli("pull", "-q", ref, capture_output=True), "shoal pull")
            dt = time.perf_counter() - t0
            _check(puller.cli("rmi", ref, capture_output=True), "shoal rmi")
            return dt

        def skopeo_once() -> float:
            dest = root / "oci"
            rmtree(dest)
            t0 = time.perf_counter()
            _check(subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false",
                                   f"docker://{ref}", f"oci:{dest}:x"], capture_output=True),
                   "skopeo copy")
            return time.perf_counter() - t0

        shoal_once()
        skopeo_once()
        shoal_s, skopeo_s = [], []
        for _ in range(n):  # interleaved, so both see the same machine load
            shoal_s.append(shoal_once())
            skopeo_s.append(skopeo_once())
        label = f"pull {LAYERS}x{LAYER_BYTES >> 20} MB random layers"
        return [(label, statistics.median(shoal_s), statistics.median(skopeo_s))]
    finally:
        puller.stop()
        pusher.stop()
        reg.stop()
        rmtree(root)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=5, help="timed runs of each (default 5)")
    args = ap.parse_args()
    rows = run(args.n)
    print(f"{'':40} {'shoal':>9} {'skopeo':>9} {'ratio':>7}  (target <= 1.5x)")
    for label, shoal, skopeo in rows:
        print(f"{label:40} {shoal:8.3f}s {skopeo:8.3f}s {shoal / skopeo:6.2f}x")


if __name__ == "__main__":
    main()
