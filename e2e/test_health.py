"""Health-driven replacement on a 3-host `shoal lab`, with the cluster's invariants checked.

Six replicas spread over three hosts; two of their containers (whichever
start first) turn unhealthy. Each such task must FAIL with "unhealthy
container" and be replaced in its own slot, possibly on another host. While
this happens, and once the service has converged:

- never two tasks desired running in one slot, never more than six in all
  (nothing duplicated);
- at the end every slot 1..6 has exactly one running task, and exactly six
  `svc.*` containers run over all the hosts (nothing lost, no stray container);
- the two failed tasks show in `service ps` as history under their successors.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

LAB = {"nodes": 3, "managers": 1, "registry": False}  # the `lab` fixture (e2e/conftest.py)
REPLICAS = 6
SICK = 2


def _tasks(host: Any, service: str) -> list[dict[str, Any]]:
    from shoal.cli.client import Client

    c = Client(host.host)
    try:
        filters = json.dumps({"service": [service]})
        return c.request("GET", "/tasks", params={"filters": filters}).json()  # type: ignore[no-any-return]
    finally:
        c.close()


def _state(t: dict[str, Any]) -> str:
    return str(t["Status"]["State"])


def _check_invariants(tasks: list[dict[str, Any]]) -> None:
    """Fail when a slot has two tasks desired running, or the service more than REPLICAS."""
    live = Counter(t["Slot"] for t in tasks if t["DesiredState"] == "running")
    assert all(n == 1 for n in live.values()), f"a slot has two live tasks: {live}"
    assert sum(live.values()) <= REPLICAS, f"more than {REPLICAS} live tasks: {live}"
    assert len({t["ID"] for t in tasks}) == len(tasks)


def _converged(tasks: list[dict[str, Any]]) -> bool:
    live = [t for t in tasks if t["DesiredState"] == "running"]
    failed = [t for t in tasks if _state(t) == "failed"]
    return (len(failed) == SICK and len(live) == REPLICAS
            and all(_state(t) == "running" for t in live)
            and sorted(t["Slot"] for t in live) == list(range(1, REPLICAS + 1)))


def test_unhealthy_tasks_are_replaced_and_the_service_converges(lab: Any,
                                                                tmp_path: Path) -> None:
    m = lab.managers[0]
    shared = tmp_path / "shared"  # hosts share the root mount namespace (docs/lab.md)
    shared.mkdir()
    script = (f"for n in $(seq {SICK}); do if mkdir /data/sick$n 2>/dev/null; then "
              "(sleep 3; touch /tmp/sick) & break; fi; done; exec sleep 1000")
    m.cli("service", "create", "-d", "--name", "svc", "--replicas", str(REPLICAS),
          "--mount", f"type=bind,source={shared},target=/data",
          "--health-cmd", "test ! -e /tmp/sick", "--health-interval", "500ms",
          "--health-retries", "2", "--stop-grace-period", "1s", "--restart-delay", "500ms",
          "busybox", "sh", "-c", script, check=True)

    deadline = time.monotonic() + 180
    samples = 0
    while True:
        tasks = _tasks(m, "svc")
        _check_invariants(tasks)
        samples += 1
        if _converged(tasks):
            break
        seen = [(t["Slot"], _state(t)) for t in tasks]
        assert time.monotonic() < deadline, f"not converged: {seen}"
        time.sleep(0.3)
    assert samples > 1

    failed = [t for t in tasks if _state(t) == "failed"]
    assert all(t["Status"]["Err"].endswith("unhealthy container") for t in failed)
    assert all(t["DesiredState"] == "shutdown" for t in failed)
    assert len(tasks) == REPLICAS + SICK  # one replacement per unhealthy task, no more
    live = [t for t in tasks if t["DesiredState"] == "running"]
    assert len({t["NodeID"] for t in live}) == 3  # spread over the three hosts

    # exactly the live tasks run as containers, over all hosts, each healthy
    running: list[str] = []
    for h in lab.hosts:
        out = h.cli("ps", "--filter", "name=svc.", "--format", "{{.Names}} {{.Status}}",
                    check=True).stdout
        for line in out.splitlines():
            assert "(healthy)" in line, line
            running.append(line.split()[0])
    assert sorted(n.rsplit(".", 1)[1] for n in running) == sorted(t["ID"] for t in live)

    ps = m.cli("service", "ps", "--no-trunc", "svc", check=True).stdout.splitlines()
    history = [ln for ln in ps if "\\_ svc." in ln]
    assert len(history) == SICK and all("unhealthy container" in ln for ln in history)
    for t in failed:
        assert any(f"\\_ svc.{t['Slot']} " in ln for ln in history)

    m.cli("service", "rm", "svc", check=True)
    deadline = time.monotonic() + 60
    while left := [(h.name, ln) for h in lab.hosts for ln in h.cli(
            "ps", "-a", "--filter", "name=svc.", "--format", "{{.Names}} {{.Status}}"
    ).stdout.splitlines()]:
        assert time.monotonic() < deadline, f"containers left after service rm: {left}"
        time.sleep(0.5)
