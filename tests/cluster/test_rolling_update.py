"""Rolling updates on real daemons: batches, auto rollback, pause, manual rollback, start-first.

Invariants checked once converged: exactly the wanted number of containers
run (none lost, none duplicated), all on the expected spec, the replaced ones
shut down; UpdateStatus as `service inspect` shows it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from .test_multi_node import _token
from .test_single_host import _wait

pytestmark = pytest.mark.root

# `sleep` as pid 1 ignores SIGTERM: a short grace period keeps stop-first batches quick
FAST_STOP = ("--stop-grace-period", "1s")


def _init(d) -> None:
    d.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{d.port}", check=True)


def _inspect(d, service: str) -> dict[str, Any]:
    return json.loads(d.cli("service", "inspect", service, check=True).stdout)[0]


def _status(d, service: str) -> dict[str, Any]:
    return _inspect(d, service).get("UpdateStatus") or {}


def _containers(daemons, service: str) -> list[dict[str, Any]]:
    """Return the running containers of SERVICE on every daemon."""
    out = []
    for d in daemons:
        _, items = d.api("GET", "/containers/json")
        out += [c for c in items or [] if c["Names"][0].startswith(f"/{service}.")]
    return out


def _specs(daemons, service: str) -> list[tuple[str, list[str], list[str]]]:
    """Return (image, env, cmd) of each running container of SERVICE."""
    out = []
    for d in daemons:
        for c in _containers([d], service):
            _, info = d.api("GET", f"/containers/{c['Id']}/json")
            cfg = info["Config"]
            out.append((cfg["Image"], sorted(e for e in cfg.get("Env") or [] if
                                             e.startswith("V=")), cfg.get("Cmd") or []))
    return out


def _tasks(d, service: str) -> list[tuple[str, str, str]]:
    """Return (slot name, desired, current state word) of every task of SERVICE."""
    out = d.cli("service", "ps", "--no-trunc", "--format",
                "{{.Name}}|{{.DesiredState}}|{{.CurrentState}}", service, check=True).stdout
    rows = []
    for line in out.splitlines():
        name, desired, current = line.split("|")
        rows.append((name.replace("\\_", "").strip(), desired, current.split()[0]))
    return rows


def _running_ids(d, service: str) -> set[str]:
    out = d.cli("service", "ps", "--no-trunc", "-f", "desired-state=running", "--format",
                "{{.ID}}", service, check=True).stdout
    return set(out.split())


def _converged(daemons, service: str, n: int, image: str, env: list[str]) -> bool:
    specs = _specs(daemons, service)
    return len(specs) == n and all(s[0] == image and s[1] == env for s in specs)


def test_update_in_batches_then_manual_rollback(cluster):
    m = cluster.daemon("m1")
    _init(m)
    w = cluster.daemon("w1")
    w.cli("cluster", "join", "--token", _token(m, "worker"), "--advertise-addr",
          f"127.0.0.1:{w.port}", f"127.0.0.1:{m.port}", check=True)
    _wait(lambda: m.cli("node", "ls").stdout.count("Ready") == 2)
    both = [m, w]
    for d in both:
        d.cli("import", str(cluster.busybox_tar), "busybox:v2", check=True)
    m.cli("service", "create", "--name", "roll", "--replicas", "4", *FAST_STOP,
          "--update-parallelism", "2", "--update-monitor", "1s",
          "--rollback-parallelism", "2", "--rollback-monitor", "1s",
          "busybox", "sleep", "1000", check=True)
    _wait(lambda: _converged(both, "roll", 4, "busybox", []))
    assert "UpdateStatus" not in _inspect(m, "roll")

    r = m.cli("service", "update", "--image", "busybox:v2", "--env-add", "V=2", "roll")
    assert r.returncode == 0, r.stderr
    assert "verify: Service converged" in r.stdout
    status = _status(m, "roll")
    assert status["State"] == "completed" and status["Message"] == "update completed"
    assert status["StartedAt"] <= status["CompletedAt"]
    assert _converged(both, "roll", 4, "busybox:v2", ["V=2"])
    tasks = _tasks(m, "roll")
    assert sorted(t[0].split(".")[1] for t in tasks if t[1] == "Running") == ["1", "2", "3", "4"]
    assert len([t for t in tasks if t[1] == "Shutdown"]) == 4  # every old task was shut down
    assert all(t[2] == "Shutdown" for t in tasks if t[1] == "Shutdown")
    pretty = m.cli("service", "inspect", "--pretty", "roll", check=True).stdout
    assert "UpdateStatus:" in pretty and "update completed" in pretty

    r = m.cli("service", "rollback", "roll")
    assert r.returncode == 0, r.stdout + r.stderr
    status = _status(m, "roll")
    assert status["State"] == "rollback_completed" and status["Message"] == "rollback completed"
    assert _converged(both, "roll", 4, "busybox", [])
    spec = _inspect(m, "roll")
    assert spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox"
    assert spec["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:v2"

    # replicas alone are no update: no new rollout, the status stays out of it
    m.cli("service", "scale", "roll=5", check=True)
    assert _converged(both, "roll", 5, "busybox", [])
    assert "UpdateStatus" not in _inspect(m, "roll")

    # --force changes nothing but ForceUpdate, and still rolls every task
    before = _running_ids(m, "roll")
    m.cli("service", "update", "--force", "roll", check=True)
    assert _inspect(m, "roll")["Spec"]["TaskTemplate"]["ForceUpdate"] == 1
    assert _status(m, "roll")["State"] == "completed"
    after = _running_ids(m, "roll")
    assert len(after) == 5 and not before & after
    _wait(lambda: _converged(both, "roll", 5, "busybox", []))


def test_failing_update_rolls_back_by_itself(cluster):
    d = cluster.daemon("m1")
    _init(d)
    d.cli("service", "create", "--name", "fragile", "--replicas", "4", *FAST_STOP,
          "--update-parallelism", "2", "--update-failure-action", "rollback",
          "--update-monitor", "3s", "--rollback-parallelism", "2", "--rollback-monitor", "1s",
          "busybox", "sleep", "1000", check=True)
    _wait(lambda: _converged([d], "fragile", 4, "busybox", []))
    r = d.cli("service", "update", "--args", "false", "fragile")
    assert r.returncode != 0 and "service rolled back" in r.stderr
    _wait(lambda: _status(d, "fragile").get("State") == "rollback_completed")
    info = _inspect(d, "fragile")
    assert info["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"] == ["sleep", "1000"]
    _wait(lambda: _converged([d], "fragile", 4, "busybox", []))
    assert all(s[2] == ["sleep", "1000"] for s in _specs([d], "fragile"))
    running = [t for t in _tasks(d, "fragile") if t[1] == "Running"]
    assert len(running) == 4 and all(t[2] == "Running" for t in running)


def test_failing_update_pauses(cluster):
    d = cluster.daemon("m1")
    _init(d)
    d.cli("service", "create", "--name", "halting", "--replicas", "3", *FAST_STOP,
          "--update-parallelism", "1", "--update-failure-action", "pause",
          "--update-monitor", "3s", "busybox", "sleep", "1000", check=True)
    r = d.cli("service", "update", "--args", "false", "halting")
    assert r.returncode != 0 and "service update paused" in r.stderr
    status = _status(d, "halting")
    assert status["State"] == "paused"
    assert status["Message"].startswith(
        "update paused due to failure or early termination of task")
    # the slots the update reached stop their old task (a new one that ran at all
    # counted as landed, so a second slot may have started); the others keep theirs
    def kept() -> list[tuple[str, str, str]]:
        return [t for t in _tasks(d, "halting") if t[1] == "Running" and t[2] == "Running"]

    _wait(lambda: len(_specs([d], "halting")) == len(kept()))
    left = len(kept())
    assert 1 <= left <= 2
    assert all(s[2] == ["sleep", "1000"] for s in _specs([d], "halting"))
    time.sleep(3)  # paused: nothing more is rolled
    assert len(kept()) == left and _status(d, "halting")["State"] == "paused"


def test_start_first_never_runs_fewer_than_the_replicas(cluster):
    d = cluster.daemon("m1")
    _init(d)
    d.cli("service", "create", "--name", "overlap", "--replicas", "3", *FAST_STOP,
          "--update-parallelism", "1", "--update-order", "start-first",
          "--update-monitor", "1s", "busybox", "sleep", "1000", check=True)
    _wait(lambda: _converged([d], "overlap", 3, "busybox", []))
    d.cli("service", "update", "-d", "--env-add", "V=2", "overlap", check=True)
    samples = []

    def done() -> bool:
        samples.append(len(_containers([d], "overlap")))
        return _status(d, "overlap").get("State") == "completed"

    _wait(done, timeout=60, interval=0.05)
    assert min(samples) >= 3 and max(samples) >= 4  # the slot briefly had two tasks
    _wait(lambda: _converged([d], "overlap", 3, "busybox", ["V=2"]))
    assert len([t for t in _tasks(d, "overlap") if t[1] == "Running"]) == 3
