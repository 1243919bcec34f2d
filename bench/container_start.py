"""Container start latency: shoal vs runc vs docker, measured in the same run.

    python bench/container_start.py [-n 50]

Figures (medians over N sequential runs of `true` in a busybox rootfs):
  shoal CLI   `shoal run --rm --network none busybox true` (a CLI process per run)
  shoal API   create + start + wait through the REST API, no CLI process
              (and the same plus removal, the work `runc run` does)
  runc        `runc run` of an OCI bundle with the same rootfs (new netns, like --network none)
  docker      `docker run --rm --network none busybox true` against a dockerd this
              script starts with private roots (skipped when dockerd is not installed)
Targets: shoal CLI <= 3x runc and <= 0.5x docker; shoal API <= 2x runc.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Api,
    Shoald,
    busybox_tar,
    median_ms,
    rmtree,
    tempdir,
    timed,
    wait_for_socket,
)


def bench_shoal(root: Path, tar: Path, n: int) -> dict[str, float]:
    d = Shoald(root)
    d.start()
    try:
        d.cli("import", str(tar), "busybox:latest", check=True, capture_output=True)
        cli = timed(lambda: d.cli("run", "--rm", "--network", "none", "busybox", "true",
                                  check=True), n)
        api = Api(d.sock)

        def create_start_wait(remove: bool) -> None:
            _, c = api.call("POST", "/containers/create",
                            {"Image": "busybox", "Cmd": ["true"],
                             "HostConfig": {"NetworkMode": "none"}})
            cid = c["Id"]
            st, _ = api.call("POST", f"/containers/{cid}/start")
            assert st == 204, st
            st, w = api.call("POST", f"/containers/{cid}/wait")
            assert w["StatusCode"] == 0, w
            if remove:
                api.call("DELETE", f"/containers/{cid}")

        ids: list[str] = []
        api_csw = timed(lambda: create_start_wait(False), n)
        api_full = timed(lambda: create_start_wait(True), n)
        _, left = api.call("GET", "/containers/json?all=1")
        for c in left:
            ids.append(c["Id"])
        for cid in ids:
            api.call("DELETE", f"/containers/{cid}?force=1")
        return {"cli": median_ms(cli), "api": median_ms(api_csw), "api_rm": median_ms(api_full)}
    finally:
        d.stop()


def bench_runc(root: Path, tar: Path, n: int) -> float | None:
    runc = shutil.which("runc")
    if not runc:
        return None
    root.mkdir(parents=True, exist_ok=True)
    bundle = root / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    with tarfile.open(tar) as t:
        t.extractall(bundle / "rootfs", filter="fully_trusted")
    subprocess.run([runc, "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    (bundle / "config.json").write_text(json.dumps(spec))
    state = root / "runc-state"
    counter = iter(range(10**6))

    def run() -> None:
        subprocess.run([runc, "--root", str(state), "run", "--bundle", str(bundle),
                        f"bench{next(counter)}"], check=True, stdin=subprocess.DEVNULL)

    return median_ms(timed(run, n))


def bench_docker(root: Path, tar: Path, n: int) -> float | None:
    dockerd, docker = shutil.which("dockerd"), shutil.which("docker")
    if not dockerd or not docker:
        return None
    root.mkdir(parents=True, exist_ok=True)
    sock = root / "docker.sock"
    log = open(root / "dockerd.log", "wb")
    proc = subprocess.Popen(
        [dockerd, "--data-root", str(root / "docker-data"), "--exec-root", str(root / "dexec"),
         "--pidfile", str(root / "dockerd.pid"), "-H", f"unix://{sock}",
         "--bridge", "none", "--iptables=false", "--ip6tables=false",
         "--containerd-namespace", "shoal-bench", "--containerd-plugins-namespace",
         "shoal-bench-p"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_socket(str(sock), proc, timeout=60)
        env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
        subprocess.run([docker, "import", str(tar), "busybox:latest"], env=env, check=True,
                       capture_output=True)

        def run() -> None:
            subprocess.run([docker, "run", "--rm", "--network", "none", "busybox", "true"],
                           env=env, check=True)

        return median_ms(timed(run, n))
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()
    root = tempdir("shoal-bench-")
    try:
        tar = busybox_tar(root / "busybox.tar")
        t0 = time.time()
        s = bench_shoal(root / "shoal", tar, args.n)
        r = bench_runc(root / "runc", tar, args.n)
        dk = None if args.no_docker else bench_docker(root / "docker", tar, args.n)
        print(f"\ncontainer start, median of {args.n} sequential runs of `true` "
              f"({time.time() - t0:.0f}s)\n")
        print("| what | median ms | vs runc | vs docker |")
        print("|---|---:|---:|---:|")

        def row(name: str, v: float | None) -> None:
            if v is None:
                print(f"| {name} | n/a | | |")
                return
            vr = f"{v / r:.2f}x" if r else ""
            vd = f"{v / dk:.2f}x" if dk else ""
            print(f"| {name} | {v:.1f} | {vr} | {vd} |")

        row("shoal run --rm (CLI)", s["cli"])
        row("shoal API create+start+wait", s["api"])
        row("shoal API create+start+wait+rm", s["api_rm"])
        row("runc run", r)
        row("docker run --rm --network none", dk)
        print("\ntargets: CLI <= 3x runc and <= 0.5x docker; API create+start+wait <= 2x runc")
    finally:
        rmtree(root)


if __name__ == "__main__":
    main()
