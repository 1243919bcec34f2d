"""Failover figures on a 5-host lab (3 managers, 2 workers): issue 7, part 8.

    python bench/failover.py [--runs 3] [--parts detect,leader,rolling]

On one `shoal lab` (docs/lab.md) this script makes and removes:
  detect   a worker running tasks of a 6-replica service loses power
           (`LabHost.kill()`: cable cut, every process SIGKILLed); measured from
           that moment: (a) until `node ls` on a manager shows it Down, (b) until
           the 6 replicas run again on the other hosts. Once at the default
           heartbeat period (5 s), once at 1 s (`cluster update
           --dispatcher-heartbeat 1s`); the worker boots again between runs and the
           service converges before the next kill.
  leader   the leader's host loses power; measured until another manager's
           `node ls` shows a new Leader. The host boots again between runs.
  manager  a manager host that does not lead loses power (at the 1 s period);
           measured until its node is Down: its own agent's session may have
           been with its own manager, whose liveness record must expire first
           (docs/agent.md).
  rolling  bench/_rolling.py's `run()`: a 10-replica rolling update, parallelism 2,
           through the CLI of a manager, until converged.

Beside shoal's figures: the published defaults of peers for noticing a dead
node (not measured here, there is no multi-host Swarm, Nomad or Kubernetes on
this machine):
  Docker Swarm   dispatcher heartbeat period 5 s, a node is down after period x 3
                 (SwarmKit manager/dispatcher: DefaultHeartBeatPeriod 5 s,
                 GracePeriodMultiplier 3) ~15 s; its tasks are then rescheduled.
  Nomad          a client is down once its heartbeat TTL (min_heartbeat_ttl 10 s,
                 larger in big clusters: max_heartbeats_per_second 50) plus
                 heartbeat_grace (10 s) passed: ~20 s, 10-50 s; then allocations
                 are rescheduled.
  Kubernetes     kube-controller-manager marks a node NotReady after
                 --node-monitor-grace-period 40 s (kubelet posts its status every
                 10 s; newer releases use 50 s); pods are evicted once their
                 default not-ready/unreachable toleration (300 s,
                 DefaultTolerationSeconds) runs out: replacements after ~5m40-5m50s.
Traffic goes only to the lab's own addresses; the lab is removed on exit.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _rolling
from _common import busybox_tar, rmtree

from e2e.failures import (
    containers,
    create_service,
    leader,
    manager,
    node_state,
    nodes,
    running_tasks,
    set_heartbeat,
    wait_converged,
    wait_for,
)
from shoal.cli.lab import Lab
from shoal.cli.lab.labhost import LabHost

SERVICE = "bench-web"
REPLICAS = 6
PEERS = {  # seconds until a dead node is noticed (published defaults, see the docstring)
    "swarm": "~15 s",
    "nomad": "~20 s (10-50 s)",
    "k8s": "40 s NotReady, pods ~5m40s",
}


def _poll(what: str, check: Callable[[], bool], t0: float, timeout: float = 120) -> float:
    """Return the seconds from T0 until CHECK() holds (polled every 50 ms)."""
    wait_for(what, check, timeout, interval=0.05)
    return time.monotonic() - t0


def _victim(lab: Lab) -> LabHost:
    """Return a worker that runs at least one task of the service."""
    for h in lab.workers:
        if containers(h, SERVICE):
            return h
    raise RuntimeError("no worker runs a task of the benchmark's service")


def detect(lab: Lab, period: str, runs: int) -> tuple[list[float], list[float]]:
    """Kill a worker RUNS times at heartbeat PERIOD; return (to Down, to replicas elsewhere)."""
    m = lab.managers[0]
    set_heartbeat(m, period)
    time.sleep(6.5)  # every agent heartbeats at least once at the new period
    down, moved = [], []
    for _ in range(runs):
        wait_converged(lab, SERVICE, REPLICAS)
        w = _victim(lab)
        t0 = time.monotonic()
        w.kill()
        down.append(_poll("Down", _state_is(m, w, "down"), t0))

        def elsewhere(w: LabHost = w) -> bool:
            node = {n["ID"] for n in _nodes_of(m, w)}
            live = running_tasks(m, SERVICE)
            return len(live) == REPLICAS and not {t["NodeID"] for t in live} & node

        moved.append(_poll("replicas elsewhere", elsewhere, t0))
        w.start()
        wait_for("worker Ready", _state_is(m, w, "ready"), 120)
    return down, moved


def _state_is(m: LabHost, h: LabHost, state: str) -> Callable[[], bool]:
    return lambda: node_state(m, h) == state


def _new_leader(lab: Lab, old: LabHost) -> Callable[[], bool]:
    def check() -> bool:
        h = leader(lab, exclude=(old,))
        return h is not None and h.name != old.name

    return check


def _nodes_of(m: LabHost, h: LabHost) -> list[dict[str, Any]]:
    return [n for n in nodes(m) if (n.get("Description") or {}).get("Hostname") == h.name]


def leader_failover(lab: Lab, runs: int) -> list[float]:
    """Kill the leader's host RUNS times; return the seconds until another leader shows."""
    out = []
    for _ in range(runs):
        old = wait_for("a leader", lambda: leader(lab), 60)
        t0 = time.monotonic()
        old.kill()
        out.append(_poll("new leader", _new_leader(lab, old), t0))
        old.start()
        m = manager(lab, (old,))
        wait_for("old leader Ready", _state_is(m, old, "ready"), 120)
        wait_converged(lab, SERVICE, REPLICAS, timeout=120)
    return out


def dead_manager(lab: Lab, runs: int) -> list[float]:
    """Kill a manager host that does not lead RUNS times; return the seconds until Down."""
    out = []
    for _ in range(runs):
        lead = wait_for("a leader", lambda: leader(lab), 60)
        victim = next(h for h in lab.managers if h.name != lead.name)
        t0 = time.monotonic()
        victim.kill()
        out.append(_poll("Down", _state_is(lead, victim, "down"), t0))
        victim.start()
        wait_for("manager Ready", _state_is(lead, victim, "ready"), 120)
        wait_converged(lab, SERVICE, REPLICAS, timeout=120)
    return out


def rolling(lab: Lab, runs: int) -> list[float]:
    """Time RUNS rolling updates (bench/_rolling.py) through a manager's CLI."""

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return manager(lab).cli(*args)

    return [_rolling.run(cli, name=f"bench-rolling-{i}")["converged"] for i in range(runs)]


def _fmt(xs: list[float]) -> str:
    if not xs:
        return "-"
    med = statistics.median(xs)
    return f"{med:.1f} s ({min(xs):.1f}-{max(xs):.1f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parts", default="detect,leader,manager,rolling")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    root = Path(tempfile.mkdtemp(prefix="shoal-bench-failover-"))
    tar = busybox_tar(root / "busybox-rootfs.tar")
    lab = Lab.up("bf" + secrets.token_hex(2), nodes=5, managers=3, registry=False,
                 root=root / "labs")
    rows: list[tuple[str, str, str, str]] = []
    try:
        for h in lab.hosts:
            h.cli("import", str(tar), "busybox:latest", check=True)
        create_service(lab.managers[0], SERVICE, REPLICAS)
        wait_converged(lab, SERVICE, REPLICAS)
        if "detect" in parts:
            for period, target in (("5s", "<= 10 s"), ("1s", "<= 5 s")):
                down, moved = detect(lab, period, args.runs)
                rows.append((f"dead worker -> Down (heartbeat {period})", _fmt(down), "",
                             PEERS["swarm"] if period == "5s" else ""))
                rows.append((f"dead worker -> tasks run elsewhere ({period})", _fmt(moved),
                             target, ""))
        if "leader" in parts:
            rows.append(("leader host dies -> new leader", _fmt(leader_failover(lab, args.runs)),
                         "<= 5 s", ""))
        if "manager" in parts:
            set_heartbeat(lab.managers[0], "1s")
            time.sleep(6.5)  # every agent heartbeats at least once at the new period
            rows.append(("dead manager host (not leader) -> Down (1s)",
                          _fmt(dead_manager(lab, args.runs)), "", ""))
        if "rolling" in parts:
            rows.append(("rolling update, 10 replicas, parallelism 2",
                          _fmt(rolling(lab, args.runs)), "", ""))
    except BaseException:
        for h in lab.hosts:  # what each daemon said last, before the lab goes
            log = h.state.dir / "shoald.log"
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(f"--- {h.name} ---\n" + "\n".join(tail), file=sys.stderr)
        raise
    finally:
        left = lab.down()
        rmtree(root)
        if left:
            print(f"lab left behind: {left}", file=sys.stderr)
    print(f"\nshoal failover on a 5-host lab (3 managers, 2 workers), {args.runs} runs each: "
          "median (min-max)\n")
    print(f"{'figure':48} {'shoal':22} {'target':9} peers' defaults")
    for name, value, target, peer in rows:
        print(f"{name:48} {value:22} {target:9} {peer}")
    print(f"\n{'detect a dead node (defaults)':48} Swarm {PEERS['swarm']}, "
          f"Nomad {PEERS['nomad']}, Kubernetes {PEERS['k8s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
