"""Rolling update time: N replicas (10) updated P at a time (2), delay 0, until converged.

    python bench/_rolling.py [-n 10] [-p 2] [--delay 0] [--runs 3]

`run(cli, ...)` works on any cluster: CLI(*args) runs `shoal ARGS` against one
of its managers and returns the CompletedProcess (text). bench/failover.py
calls it on a 5-host lab; this script's main runs it on a local one-daemon
cluster (embedded etcd). Per run: create a service of N tasks whose command
exits at once on SIGTERM (so that stopping an old task costs no grace
period), wait until N run, then `service update -d --env-add BENCH=i` and
time until (a) every running task is on the new spec with N running and
the old ones shut down ("converged") and (b) UpdateStatus says "completed"
(monitor 0 s, so both end together unless the manager lags). The service is
removed at the end.

The peer, when dockerd is installed: the same `run()` through the stock
`docker` CLI on a private dockerd in swarm mode (its own data root, socket
and containerd namespace), same image, same flags, same run. The links it
makes (docker0, docker_gwbridge) are removed afterwards only if they did not
exist before.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Shoald, busybox_tar, rmtree, tempdir, wait_for_socket

Cli = Callable[..., "subprocess.CompletedProcess[str]"]
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    if r.returncode != 0:
        raise RuntimeError(f"shoal {' '.join(map(str, r.args[-6:]))}: {r.stderr.strip()}")
    return r.stdout


def _tasks(cli: Cli, name: str) -> list[tuple[str, str, str]]:
    """Return (desired, current state, env marker) of every task of NAME."""
    out = _ok(cli("service", "ps", "--no-trunc", "--format",
                  "{{.ID}}|{{.DesiredState}}|{{.CurrentState}}", name))
    rows = []
    for line in out.splitlines():
        tid, desired, current = line.split("|")
        rows.append((tid.strip(), desired, current.split()[0] if current else ""))
    return rows


def _status(cli: Cli, name: str) -> dict[str, Any]:
    doc = json.loads(_ok(cli("service", "inspect", name)))[0]
    return doc.get("UpdateStatus") or {}


def _wait(check: Callable[[], bool], timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{what}: not reached in {timeout:.0f}s")
        time.sleep(0.05)
    return time.monotonic() - t0


def run(cli: Cli, *, replicas: int = 10, parallelism: int = 2, delay: float = 0.0,
        image: str = "busybox", name: str = "bench-rolling", timeout: float = 600
        ) -> dict[str, float]:
    """Time one rolling update of REPLICAS tasks, PARALLELISM at a time; return seconds.

    Keys: "converged" (N running on the new spec, the old ones shut down),
    "completed" (UpdateStatus completed), both from the update request.
    """
    _ok(cli("service", "create", "-d", "--name", name, "--replicas", str(replicas),
            "--update-parallelism", str(parallelism), "--update-delay", f"{delay}s",
            "--update-monitor", "0s", image, *COMMAND))
    try:
        def running(tasks: list[tuple[str, str, str]]) -> list[str]:
            return [t[0] for t in tasks if t[1] == "Running" and t[2] == "Running"]

        _wait(lambda: len(running(_tasks(cli, name))) == replicas, timeout, "create")
        before = set(running(_tasks(cli, name)))
        t0 = time.monotonic()
        _ok(cli("service", "update", "-d", "--env-add", f"BENCH={time.time_ns()}", name))

        def converged() -> bool:
            tasks = _tasks(cli, name)
            now = running(tasks)
            old_stopped = all(t[2] in ("Shutdown", "Failed", "Complete")
                              for t in tasks if t[0] in before)
            return len(now) == replicas and not before & set(now) and old_stopped

        _wait(converged, timeout, "update")
        done = time.monotonic() - t0
        _wait(lambda: _status(cli, name).get("State") == "completed", timeout, "status")
        completed = time.monotonic() - t0
        return {"converged": done, "completed": completed}
    finally:
        cli("service", "rm", name)


def _local(tar: Path, runs: int, replicas: int, parallelism: int, delay: float) -> list[dict]:
    root = tempdir("shoal-bench-rolling-")
    d = Shoald(root / "shoal")
    d.start()
    try:
        d.cli("import", str(tar), "busybox:latest", check=True, capture_output=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        d.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{port}", check=True,
              capture_output=True)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return d.cli(*args, capture_output=True, text=True)  # type: ignore[return-value]

        out = []
        for i in range(runs):
            out.append(run(cli, replicas=replicas, parallelism=parallelism, delay=delay,
                           name=f"bench-rolling-{i}"))
            # the removed service's tasks must be gone before the next run counts
            _wait(lambda: not [ln for ln in cli("ps", "-q").stdout.split() if ln], 120,
                  "cleanup")
        return out
    finally:
        d.stop()
        rmtree(root)


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def _swarm(tar: Path, runs: int, replicas: int, parallelism: int, delay: float
           ) -> list[dict[str, float]] | None:
    """Return the same runs on a private dockerd in swarm mode (None: no dockerd)."""
    dockerd, docker = shutil.which("dockerd"), shutil.which("docker")
    if not dockerd or not docker:
        return None
    root = tempdir("shoal-bench-rolling-swarm-")
    sock = root / "docker.sock"
    had = _links()
    log = open(root / "dockerd.log", "wb")
    proc = subprocess.Popen(
        [dockerd, "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "dockerd.pid"), "-H", f"unix://{sock}",
         "--containerd-namespace", "shoal-bench-rolling",
         "--containerd-plugins-namespace", "shoal-bench-rolling-p"],
        stdout=log, stderr=subprocess.STDOUT)
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([docker, *args], env=env, capture_output=True, text=True)

    try:
        wait_for_socket(str(sock), proc, timeout=60)  # type: ignore[arg-type]
        _ok(cli("import", str(tar), "busybox:latest"))
        _ok(cli("swarm", "init", "--advertise-addr", "127.0.0.1"))
        out = []
        for i in range(runs):
            out.append(run(cli, replicas=replicas, parallelism=parallelism, delay=delay,
                           image="busybox:latest", name=f"bench-rolling-{i}"))
            _wait(lambda: not cli("ps", "-q").stdout.split(), 120, "cleanup")
        cli("swarm", "leave", "--force")
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for link in ("docker_gwbridge", "docker0"):
            if link not in had and link in _links():
                subprocess.run(["ip", "link", "del", link], capture_output=True)
        rmtree(root)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--replicas", type=int, default=10)
    ap.add_argument("-p", "--parallelism", type=int, default=2)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-swarm", action="store_true", help="skip the Docker Swarm peer")
    args = ap.parse_args()
    work = tempdir("shoal-bench-rolling-tar-")
    try:
        tar = busybox_tar(work / "busybox.tar")
        rows = _local(tar, args.runs, args.replicas, args.parallelism, args.delay)
        peer = None if args.no_swarm else _swarm(tar, args.runs, args.replicas,
                                                 args.parallelism, args.delay)
    finally:
        rmtree(work)
    print(f"\nrolling update: {args.replicas} replicas, parallelism {args.parallelism}, "
          f"delay {args.delay:g}s, one host, median of {args.runs}\n")
    print("| what | converged (s) | UpdateStatus completed (s) | vs Swarm |")
    print("|---|---:|---:|---:|")
    ref = statistics.median(r["converged"] for r in peer) if peer else None
    for label, data in (("shoal", rows), ("Docker Swarm", peer)):
        if not data:
            continue
        conv = statistics.median(r["converged"] for r in data)
        comp = statistics.median(r["completed"] for r in data)
        ratio = f"{conv / ref:.2f}x" if ref else ""
        print(f"| {label} | {conv:.2f} | {comp:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
