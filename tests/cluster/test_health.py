"""Health checks and restart policies on a one-host cluster, through the `shoal` CLI.

- a task whose container turns unhealthy FAILS ("unhealthy container") and is
  replaced in its slot; the service converges to exactly its replica count and
  `service ps` shows the failed task as history under its successor;
- a health-checked task is Starting until healthy; `ps` and inspect show health;
- the image's HEALTHCHECK applies when the service sets none, `--no-healthcheck`
  disables it;
- restart policies: on-failure with max attempts 2 makes exactly 3 tasks, none
  makes 1; the task history limit trims the slots.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .test_single_host import _wait as wait

pytestmark = pytest.mark.root


def _wait(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    return wait(check, timeout)


def _tasks(d: Any, service: str) -> list[dict[str, Any]]:
    code, svc = d.api("GET", f"/services/{service}")
    assert code == 200, svc
    filters = json.dumps({"service": [svc["ID"]]})
    code, tasks = d.api("GET", "/tasks?filters=" + _quote(filters))
    assert code == 200, tasks
    return list(tasks)


def _quote(s: str) -> str:
    from urllib.parse import quote

    return quote(s, safe="")


def _state(t: dict[str, Any]) -> str:
    return str((t.get("Status") or {}).get("State", ""))


def _err(t: dict[str, Any]) -> str:
    return str((t.get("Status") or {}).get("Err", ""))


def _init(cluster: Any) -> Any:
    d = cluster.daemon("m1")
    d.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{d.port}", check=True)
    return d


def _converged(tasks: list[dict[str, Any]], replicas: int) -> bool:
    """Exactly REPLICAS tasks desired and observed running, one per slot 1..REPLICAS."""
    live = [t for t in tasks if t.get("DesiredState") == "running"]
    return (len(live) == replicas and all(_state(t) == "running" for t in live)
            and sorted(t["Slot"] for t in live) == list(range(1, replicas + 1)))


def test_unhealthy_task_is_replaced_in_its_slot(cluster: Any, tmp_path: Path) -> None:
    d = _init(cluster)
    shared = tmp_path / "shared"
    shared.mkdir()
    # The first container to start (mkdir is atomic) turns unhealthy after 2 s; the others,
    # and its replacement, stay healthy.
    script = ("if mkdir /data/first 2>/dev/null; then (sleep 2; touch /tmp/sick) & fi; "
              "exec sleep 1000")
    r = d.cli("service", "create", "-d", "--name", "hc", "--replicas", "3",
              "--mount", f"type=bind,source={shared},target=/data",
              "--health-cmd", "test ! -e /tmp/sick", "--health-interval", "500ms",
              "--health-retries", "2", "--stop-grace-period", "1s",
              "--restart-delay", "500ms", "busybox", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    spec = json.loads(d.cli("service", "inspect", "hc").stdout)[0]["Spec"]
    hc = spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"]
    assert hc["Test"] == ["CMD-SHELL", "test ! -e /tmp/sick"] and hc["Retries"] == 2

    failed = _wait(lambda: [t for t in _tasks(d, "hc") if _state(t) == "failed"])
    assert len(failed) == 1, [(_state(t), _err(t), t['Status'].get('Message')) for t in failed]
    assert _err(failed[0]).endswith("unhealthy container"), _err(failed[0])
    assert _err(failed[0]).startswith("task: non-zero exit (")
    _wait(lambda: _converged(_tasks(d, "hc"), 3))
    tasks = _tasks(d, "hc")
    assert [t["DesiredState"] for t in tasks if t["ID"] == failed[0]["ID"]] == ["shutdown"]
    assert len(tasks) == 4  # nothing lost, nothing duplicated: one replacement
    slot = failed[0]["Slot"]
    assert sorted(t["Slot"] for t in tasks).count(slot) == 2
    assert len({t["ID"] for t in tasks}) == 4

    ps = d.cli("service", "ps", "--no-trunc", "hc").stdout.splitlines()
    history = [ln for ln in ps if "\\_ hc." in ln]
    assert len(history) == 1 and f"\\_ hc.{slot} " in history[0]
    assert "Shutdown" in history[0] and "Failed" in history[0]
    assert "unhealthy container" in history[0]
    running = d.cli("service", "ps", "--filter", "desired-state=running", "hc").stdout
    assert running.count("Running") == 6 and "\\_" not in running

    # the engine's view of the same containers: health in ps and inspect
    status = d.cli("ps", "--filter", "name=hc.", "--format", "{{.Status}}").stdout
    assert status.count("(healthy)") == 3, status
    name = d.cli("ps", "-q", "--filter", "name=hc.").stdout.split()[0]
    state = json.loads(d.cli("inspect", name).stdout)[0]["State"]
    assert state["Health"]["Status"] == "healthy" and state["Health"]["Log"]

    # the history limit trims the slot's old task
    d.cli("cluster", "update", "--task-history-limit", "0", check=True)
    _wait(lambda: len(_tasks(d, "hc")) == 3)


def test_task_is_starting_until_healthy(cluster: Any, tmp_path: Path) -> None:
    d = _init(cluster)
    gate = tmp_path / "gate"
    gate.mkdir()
    r = d.cli("service", "create", "-d", "--name", "slow", "--health-cmd", "test -e /g/ok",
              "--health-interval", "300ms", "--health-retries", "1000",
              "--mount", f"type=bind,source={gate},target=/g", "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    _wait(lambda: "(health: starting)" in d.cli("ps", "--format", "{{.Status}}").stdout)
    tasks = _tasks(d, "slow")
    assert [_state(t) for t in tasks] == ["starting"]
    assert "Starting" in d.cli("service", "ps", "slow").stdout
    assert " 0/1 " in d.cli("service", "ls").stdout
    (gate / "ok").touch()
    _wait(lambda: [_state(t) for t in _tasks(d, "slow")] == ["running"])
    assert "(healthy)" in d.cli("ps", "--format", "{{.Status}}").stdout
    assert " 1/1 " in d.cli("service", "ls").stdout


def test_image_healthcheck_applies_unless_disabled(cluster: Any, busybox_tar: Path) -> None:
    d = _init(cluster)
    d.cli("import", "-c", "HEALTHCHECK --interval=300ms CMD false", "-c", 'CMD ["sleep","1000"]',
          str(busybox_tar), "sickly:1", check=True)
    d.cli("service", "create", "-d", "--name", "sickly", "--restart-condition", "none",
          "sickly:1", check=True)
    failed = _wait(lambda: [t for t in _tasks(d, "sickly") if _state(t) == "failed"])
    assert _err(failed[0]).endswith("unhealthy container")
    # a service's --health-interval alone keeps the image's test (Docker's merge)
    d.cli("import", "-c", "HEALTHCHECK --interval=1h CMD false", "-c", 'CMD ["sleep","1000"]',
          str(busybox_tar), "slowcheck:1", check=True)
    d.cli("service", "create", "-d", "--name", "tuned", "--restart-condition", "none",
          "--health-interval", "300ms", "slowcheck:1", check=True)
    failed = _wait(lambda: [t for t in _tasks(d, "tuned") if _state(t) == "failed"])
    assert _err(failed[0]).endswith("unhealthy container")
    d.cli("service", "create", "-d", "--name", "fine", "--no-healthcheck", "sickly:1", check=True)
    _wait(lambda: [_state(t) for t in _tasks(d, "fine")] == ["running"])
    name = d.cli("ps", "-q", "--filter", "name=fine.").stdout.split()[0]
    assert "Health" not in json.loads(d.cli("inspect", name).stdout)[0]["State"]


def test_restart_on_failure_max_attempts_and_none(cluster: Any) -> None:
    d = _init(cluster)
    d.cli("service", "create", "-d", "--name", "flaky", "--restart-condition", "on-failure",
          "--restart-max-attempts", "2", "--restart-delay", "200ms",
          "busybox", "sh", "-c", "exit 1", check=True)
    d.cli("service", "create", "-d", "--name", "once", "--restart-condition", "none",
          "busybox", "sh", "-c", "exit 1", check=True)
    d.cli("service", "create", "-d", "--name", "done", "--restart-condition", "on-failure",
          "busybox", "true", check=True)
    _wait(lambda: sum(_state(t) == "failed" for t in _tasks(d, "flaky")) == 3)
    _wait(lambda: [_state(t) for t in _tasks(d, "once")] == ["failed"])
    _wait(lambda: [_state(t) for t in _tasks(d, "done")] == ["complete"])
    # a later look finds no more tasks: max attempts counts restarts (1 + 2)
    time.sleep(3)
    flaky = _tasks(d, "flaky")
    assert len(flaky) == 3 and {t["Slot"] for t in flaky} == {1}
    assert all(_err(t) == "task: non-zero exit (1)" for t in flaky)
    assert len(_tasks(d, "once")) == 1 and len(_tasks(d, "done")) == 1
    ps = d.cli("service", "ps", "flaky").stdout
    assert ps.count("\\_ flaky.1") == 2 and ps.count('"task: non-zero exit (1)"') == 3
