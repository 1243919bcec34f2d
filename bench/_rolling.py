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
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Shoald, busybox_tar, rmtree, tempdir

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--replicas", type=int, default=10)
    ap.add_argument("-p", "--parallelism", type=int, default=2)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = tempdir("shoal-bench-rolling-tar-")
    try:
        tar = busybox_tar(work / "busybox.tar")
        rows = _local(tar, args.runs, args.replicas, args.parallelism, args.delay)
    finally:
        rmtree(work)
    conv = statistics.median(r["converged"] for r in rows)
    comp = statistics.median(r["completed"] for r in rows)
    print(f"rolling update, {args.replicas} replicas, parallelism {args.parallelism}, "
          f"delay {args.delay:g}s, one host (median of {len(rows)}):")
    print(f"  converged  {conv:6.2f} s   ({conv / args.replicas * 1000:.0f} ms per task)")
    print(f"  completed  {comp:6.2f} s   (UpdateStatus completed)")
    print("  runs: " + ", ".join(f"{r['converged']:.2f}/{r['completed']:.2f}" for r in rows))


if __name__ == "__main__":
    main()
