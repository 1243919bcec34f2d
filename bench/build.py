"""Image builds: shoal vs `docker build` of the same Dockerfile and context, in the same run.

    python bench/build.py [-n 5] [--no-docker] [--no-pull]

A 6-step Dockerfile on the busybox base (imported from the same rootfs tar into
both engines):

    FROM busybox / WORKDIR /app / COPY base.txt ./ / RUN ... / COPY app.sh ./ / CMD

  cold     `build --no-cache` (every step runs)
  rebuild  `build` after app.sh changed (steps 1-4 from the cache, 5-6 run)

Medians over N runs each (after one warm-up). RUN steps use `--network none` in
both (the private dockerd has no bridge). Docker's side is a dockerd started
here with its own roots and socket, `--bridge=none --iptables=false`, and the
classic builder (DOCKER_BUILDKIT=0: the docker CLI here has no buildx plugin, and
BuildKit would need it). Then the 50 MB pull rows of bench/_pull.py (shoal vs
skopeo copy) when that module is present. Targets: rebuild <= 1x docker, pull
<= 1.5x skopeo.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Shoald, busybox_tar, rmtree, tempdir, wait_for_socket

DOCKERFILE = """\
FROM busybox
WORKDIR /app
COPY base.txt ./
RUN echo built > /app/run.txt && ls /app > /app/listing
COPY app.sh ./
CMD ["sh", "/app/app.sh"]
"""


def make_context(d: Path) -> Path:
    d.mkdir(parents=True)
    (d / "Dockerfile").write_text(DOCKERFILE)
    (d / "base.txt").write_text("base\n" * 1000)
    (d / "app.sh").write_text("cat /app/run.txt\n")
    return d


def measure(build: Callable[[list[str]], None], ctx: Path, n: int) -> tuple[float, float]:
    """Return the median (cold, rebuild-after-one-change) build times in seconds."""
    counter = [0]

    def change() -> None:
        counter[0] += 1
        (ctx / "app.sh").write_text(f"echo change {counter[0]}\ncat /app/run.txt\n")

    build(["--no-cache"])  # warm-up: page cache, daemons' first-use costs
    cold, rebuild = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        build(["--no-cache"])
        cold.append(time.perf_counter() - t0)
    build([])
    for _ in range(n):
        change()
        t0 = time.perf_counter()
        build([])
        rebuild.append(time.perf_counter() - t0)
    return statistics.median(cold), statistics.median(rebuild)


def bench_shoal(root: Path, tar: Path, ctx: Path, n: int) -> tuple[float, float]:
    d = Shoald(root)
    d.start()
    try:
        d.cli("import", str(tar), "busybox:latest", check=True, capture_output=True)

        def build(extra: list[str]) -> None:
            d.cli("build", "-q", "--network", "none", *extra, "-t", "bench:1", str(ctx),
                  check=True, capture_output=True)

        return measure(build, ctx, n)
    finally:
        d.stop()


class Dockerd:
    """A private dockerd: its own data/exec roots, pidfile and socket; no host networking."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sock = root / "docker.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}", "DOCKER_BUILDKIT": "0"}

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "dockerd.log", "wb")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(self.root / "data"),
             "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "dockerd.pid"),
             "-H", f"unix://{self.sock}", "--bridge=none", "--iptables=false",
             "--ip6tables=false", "--containerd-namespace", "shoal-bench-build",
             "--containerd-plugins-namespace", "shoal-bench-build-p"],
            stdout=log, stderr=subprocess.STDOUT)
        wait_for_socket(str(self.sock), self.proc, timeout=60)

    def docker(self, *args: str) -> None:
        subprocess.run(["docker", *args], env=self.env, check=True, capture_output=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["umount", "-R", str(self.root / "data")], capture_output=True)
        rmtree(self.root)


def bench_docker(root: Path, tar: Path, ctx: Path, n: int) -> tuple[float, float] | None:
    if not shutil.which("dockerd") or not shutil.which("docker"):
        return None
    d = Dockerd(root)
    d.start()
    try:
        d.docker("import", str(tar), "busybox:latest")

        def build(extra: list[str]) -> None:
            d.docker("build", "-q", "--network", "none", *extra, "-t", "bench:1", str(ctx))

        return measure(build, ctx, n)
    finally:
        d.stop()


def pull_rows(n: int) -> list[tuple[str, float, float]]:
    try:
        import _pull
    except ImportError:
        return []
    rows: list[tuple[str, float, float]] = _pull.run(n)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=5, help="timed runs of each (default 5)")
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--no-pull", action="store_true")
    args = ap.parse_args()
    root = tempdir("shoal-bench-build-")
    try:
        tar = busybox_tar(root / "busybox.tar")
        s_cold, s_re = bench_shoal(root / "shoal", tar, make_context(root / "ctx-s"), args.n)
        dk = None if args.no_docker else bench_docker(root / "docker", tar,
                                                      make_context(root / "ctx-d"), args.n)
        pulls = [] if args.no_pull else pull_rows(args.n)
    finally:
        rmtree(root)
    print(f"\nmedians of {args.n} runs; docker: classic builder (DOCKER_BUILDKIT=0)\n")
    print("| what | shoal | peer | ratio | target |")
    print("|---|---:|---:|---:|---:|")
    d_cold, d_re = dk if dk else (0.0, 0.0)

    def row(what: str, s: float, p: float, target: str) -> None:
        ratio = f"{s / p:.2f}x" if p else "n/a"
        peer = f"{p:.3f}s" if p else "n/a"
        print(f"| {what} | {s:.3f}s | {peer} | {ratio} | {target} |")

    row("build, cold (--no-cache), vs docker build", s_cold, d_cold, "")
    row("rebuild after a one-file change, vs docker build", s_re, d_re, "<= 1x")
    for label, shoal, skopeo in pulls:
        row(f"{label}, vs skopeo copy", shoal, skopeo, "<= 1.5x")


if __name__ == "__main__":
    main()
