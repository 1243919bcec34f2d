"""Rolling updates on a 3-host `shoal lab`, with the cluster's invariants sampled throughout.

Six replicas over three hosts, updated two at a time:

- stop-first (`--env-add V=2`): while it rolls, never two tasks desired
  running in one slot and never more than six; once UpdateStatus says
  completed, exactly six tasks run, one per slot 1..6, all on the new spec,
  exactly six `roll.*` containers run over all hosts (nothing lost, nothing
  duplicated) and each old task is shut down;
- start-first (`--env-add V=3`): never fewer than six tasks observed running
  while it rolls (a slot briefly has two: that is the point), then the same
  exact end state on the newer spec.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from e2e.stackcheck import api, converged, until

LAB = {"nodes": 3, "managers": 1, "registry": False}  # the `lab` fixture (e2e/conftest.py)
REPLICAS = 6


def _tasks(lab: Any, service: str) -> list[dict[str, Any]]:
    return api(lab.managers[0], "/tasks",  # type: ignore[no-any-return]
               {"filters": json.dumps({"service": [service]})})


def _status(lab: Any, service: str) -> dict[str, Any]:
    return api(lab.managers[0], f"/services/{service}").get("UpdateStatus") or {}  # type: ignore[no-any-return]


def _env(t: dict[str, Any]) -> list[str]:
    return list(t["Spec"]["ContainerSpec"].get("Env") or [])


def _roll(lab: Any, check: Any, *flags: str) -> int:
    """Run `service update -d FLAGS roll`, calling CHECK(tasks) until completed; return samples."""
    m = lab.managers[0]
    m.cli("service", "update", "-d", *flags, "roll", check=True)
    deadline = time.monotonic() + 180
    samples = 0
    while True:
        check(_tasks(lab, "roll"))
        samples += 1
        state = _status(lab, "roll").get("State")
        if state == "completed":
            return samples
        assert state not in ("paused", "rollback_started"), _status(lab, "roll")
        assert time.monotonic() < deadline, f"update not completed: {_status(lab, 'roll')}"
        time.sleep(0.2)


def _exact_end(lab: Any, env: str) -> None:
    """Check the converged state: REPLICAS tasks on ENV, one per slot, as many containers."""
    slots = converged(lab, "roll", REPLICAS)
    assert sorted(int(s) for s in slots) == list(range(1, REPLICAS + 1))
    tasks = _tasks(lab, "roll")
    live = [t for t in tasks if t["DesiredState"] == "running"]
    assert all(env in _env(t) for t in live), [_env(t) for t in live]
    assert len({t["ID"] for t in tasks}) == len(tasks)

    def containers() -> list[str] | None:
        names = []
        for h in lab.hosts:
            out = h.cli("ps", "--filter", "name=roll.", "--format", "{{.Names}}",
                        check=True).stdout
            names += out.split()
        return names if len(names) == REPLICAS else None

    names = until(containers, what=f"exactly {REPLICAS} roll containers")
    assert sorted(n.rsplit(".", 1)[1] for n in names) == sorted(t["ID"] for t in live)
    dead = [t for t in tasks if t["DesiredState"] == "shutdown"]
    until(lambda: all(t["Status"]["State"] == "shutdown" for t in _tasks(lab, "roll")
                      if t["DesiredState"] == "shutdown"), what="old tasks shut down")
    assert dead


def test_rolling_updates_keep_exact_counts(lab: Any) -> None:
    m = lab.managers[0]
    m.cli("service", "create", "-d", "--name", "roll", "--replicas", str(REPLICAS),
          "--update-parallelism", "2", "--update-monitor", "1s",
          "--stop-grace-period", "1s", "busybox", "sleep", "1000", check=True)
    converged(lab, "roll", REPLICAS)
    assert "UpdateStatus" not in api(m, "/services/roll")

    def stop_first(tasks: list[dict[str, Any]]) -> None:
        live = Counter(t["Slot"] for t in tasks if t["DesiredState"] == "running")
        assert all(n == 1 for n in live.values()), f"a slot has two live tasks: {live}"
        assert sum(live.values()) <= REPLICAS, live

    assert _roll(lab, stop_first, "--env-add", "V=2") > 1
    _exact_end(lab, "V=2")
    status = _status(lab, "roll")
    assert status["Message"] == "update completed" and status["StartedAt"] <= status["CompletedAt"]
    assert len([t for t in _tasks(lab, "roll") if "V=2" not in _env(t)]) >= REPLICAS

    lowest = [REPLICAS]

    def start_first(tasks: list[dict[str, Any]]) -> None:
        up = [t for t in tasks if t["Status"]["State"] == "running"]
        lowest[0] = min(lowest[0], len(up))

    _roll(lab, start_first, "--env-add", "V=3", "--update-order", "start-first")
    assert lowest[0] >= REPLICAS, f"only {lowest[0]} tasks ran at one point"
    _exact_end(lab, "V=3")

    m.cli("service", "rm", "roll", check=True)
    until(lambda: not [ln for h in lab.hosts for ln in h.cli(
        "ps", "-a", "--filter", "name=roll.", "-q").stdout.split()], timeout=60,
        what="no roll container left")
