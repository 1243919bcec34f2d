"""Service convergence: 50 replicas of `sleep` on one host, shoal vs Docker Swarm, same run.

    python bench/converge.py [-n 50]

Measures the wall time from `service create` (detached) until the service shows
N/N running tasks, for a single-host shoal cluster (embedded etcd) and for Docker
Swarm (a private dockerd started by this script, `docker swarm init`). Both use a
busybox image imported from the same rootfs. Target: shoal <= 0.2x Swarm.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Shoald, busybox_tar, rmtree, tempdir, wait_for_socket


def _until_running(count_running, n: int, timeout: float = 300) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if count_running() >= n:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise RuntimeError(f"not converged to {n} in {timeout}s")


def bench_shoal(root: Path, tar: Path, n: int) -> float:
    d = Shoald(root)
    d.start()
    try:
        d.cli("import", str(tar), "busybox:latest", check=True, capture_output=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        d.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{port}", check=True,
              capture_output=True)

        def running() -> int:
            r = d.cli("service", "ls", "--format", "{{.Replicas}}", capture_output=True,
                      text=True)
            first = (r.stdout.strip().splitlines() or ["0/0"])[0]
            return int(first.split("/")[0] or 0)

        d.cli("service", "create", "-d", "--name", "sleepers", "--replicas", str(n),
              "busybox", "sleep", "100000", check=True, capture_output=True)
        return _until_running(running, n)
    finally:
        d.stop()


def bench_swarm(root: Path, tar: Path, n: int) -> float | None:
    dockerd, docker = shutil.which("dockerd"), shutil.which("docker")
    if not dockerd or not docker:
        return None
    root.mkdir(parents=True, exist_ok=True)
    sock = root / "docker.sock"
    log = open(root / "dockerd.log", "wb")
    proc = subprocess.Popen(
        [dockerd, "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "dockerd.pid"), "-H", f"unix://{sock}",
         "--containerd-namespace", "shoal-bench-swarm",
         "--containerd-plugins-namespace", "shoal-bench-swarm-p"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}

    def dk(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([docker, *args], env=env, check=check, capture_output=True,
                              text=True)

    try:
        wait_for_socket(str(sock), proc, timeout=60)
        dk("import", str(tar), "busybox:latest")
        dk("swarm", "init", "--advertise-addr", "127.0.0.1")

        def running() -> int:
            out = dk("service", "ls", "--format", "{{json .}}", check=False).stdout
            for line in out.splitlines():
                rep = json.loads(line)["Replicas"].split(" ")[0]
                return int(rep.split("/")[0])
            return 0

        dk("service", "create", "-d", "--name", "sleepers", "--replicas", str(n),
           "busybox:latest", "sleep", "100000")
        elapsed = _until_running(running, n)
        dk("service", "rm", "sleepers", check=False)
        deadline = time.time() + 60
        while dk("ps", "-q", check=False).stdout.strip() and time.time() < deadline:
            time.sleep(0.5)
        dk("swarm", "leave", "--force", check=False)
        return elapsed
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "link", "del", "docker_gwbridge"], capture_output=True)
        subprocess.run(["ip", "link", "del", "docker0"], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--no-swarm", action="store_true")
    ap.add_argument("--only-swarm", action="store_true")
    args = ap.parse_args()
    root = tempdir("shoal-converge-")
    try:
        tar = busybox_tar(root / "busybox.tar")
        s = None if args.only_swarm else bench_shoal(root / "shoal", tar, args.n)
        w = None if args.no_swarm else bench_swarm(root / "swarm", tar, args.n)
        print(f"\nservice convergence: {args.n} replicas of `sleep` on one host\n")
        print("| what | seconds to N/N running | vs Swarm |")
        print("|---|---:|---:|")
        if s is not None:
            print(f"| shoal | {s:.2f} | {f'{s / w:.2f}x' if w else ''} |")
        if w is not None:
            print(f"| Docker Swarm | {w:.2f} | 1.00x |")
        print("\ntarget: shoal <= 0.2x Swarm")
    finally:
        rmtree(root)


if __name__ == "__main__":
    main()
