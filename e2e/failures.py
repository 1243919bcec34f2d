"""Failure scenarios on lab clusters: services, waits and the invariants checked after them.

Used by e2e/test_failover.py, test_partition.py, test_managers.py,
test_availability.py and bench/failover.py. Everything goes through the
Docker API of the lab hosts' daemons (what a user sees), never the store.

The invariant of a converged replicated service of N replicas (`converged`):
- the manager shows exactly N tasks desired running, all running, one per
  slot 1..N, each on a READY node;
- the hosts that are up run exactly those tasks' containers: no container
  of the service runs that is not one of them, and no task has two.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from shoal.cli.client import Client
from shoal.cli.errors import CLIError
from shoal.cli.lab import Lab
from shoal.cli.lab.labhost import LabHost

T = TypeVar("T")
IMAGE = "busybox:latest"


class NotConverged(AssertionError):
    """A wait ran out: the message says what was seen last."""


def api(h: LabHost, method: str, path: str, body: Any = None,
        params: dict[str, Any] | None = None) -> Any:
    """Call host H's daemon (Docker API) and return the decoded JSON answer."""
    c = Client(h.host)
    try:
        r = c.request(method, path, params=params, body=body)
        return r.json()
    finally:
        c.close()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60,
             interval: float = 0.2) -> T:
    """Return PROBE()'s first truthy value; raise NotConverged after TIMEOUT seconds.

    A probe that raises (a manager being replaced, a daemon restarting) counts as no.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            got = probe()
            if got:
                return got
            last = got
        except (CLIError, OSError, AssertionError) as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise NotConverged(f"{what}: not after {timeout:.0f}s (last: {last})")
        time.sleep(interval)


# Cluster-wide reads and writes, through whichever manager answers.

def manager(lab: Lab, exclude: tuple[LabHost, ...] = ()) -> LabHost:
    """Return a manager host whose daemon runs, is not cut off, and is not in EXCLUDE."""
    for h in lab.managers:
        if h.name not in {x.name for x in exclude} and h.running() and not h.state.cut:
            return h
    raise AssertionError(f"lab {lab.name}: no manager is up")


def nodes(m: LabHost) -> list[dict[str, Any]]:
    return list(api(m, "GET", "/nodes") or [])


def node_of(m: LabHost, host: LabHost) -> dict[str, Any]:
    """Return the Node of lab host HOST (by its hostname) as manager M lists it."""
    for n in nodes(m):
        if (n.get("Description") or {}).get("Hostname") == host.name:
            return n
    raise AssertionError(f"no node for {host.name}")


def node_state(m: LabHost, host: LabHost) -> str:
    return str((node_of(m, host).get("Status") or {}).get("State", ""))


def leader(lab: Lab, exclude: tuple[LabHost, ...] = ()) -> LabHost | None:
    """Return the lab host whose node is shown as Leader by a manager that answers."""
    m = manager(lab, exclude)
    for n in nodes(m):
        if (n.get("ManagerStatus") or {}).get("Leader"):
            name = (n.get("Description") or {}).get("Hostname")
            return lab.host(name) if name else None
    return None


def set_heartbeat(m: LabHost, period: str) -> None:
    """Set the cluster's dispatcher heartbeat period with the CLI (`cluster update`)."""
    m.cli("cluster", "update", "--dispatcher-heartbeat", period, check=True)


def create_service(m: LabHost, name: str, replicas: int | None = 1,
                   constraints: list[str] | None = None,
                   update: dict[str, Any] | None = None) -> str:
    """Create a service of sleeping busyboxes (replicated, or global if REPLICAS is None)."""
    spec: dict[str, Any] = {
        "Name": name,
        "TaskTemplate": {
            "ContainerSpec": {"Image": IMAGE, "Command": ["sleep", "100000"],
                              "StopGracePeriod": 1_000_000_000},
            "Placement": {"Constraints": constraints or []},
            "RestartPolicy": {"Condition": "any", "Delay": 200_000_000},
        },
        "Mode": {"Global": {}} if replicas is None else {"Replicated": {"Replicas": replicas}},
    }
    if update:
        spec["UpdateConfig"] = update
    return str(api(m, "POST", "/services/create", spec)["ID"])


def update_service(m: LabHost, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    svc = api(m, "GET", f"/services/{name}")
    spec = svc["Spec"]
    change(spec)
    api(m, "POST", f"/services/{svc['ID']}/update", spec,
        params={"version": svc["Version"]["Index"]})


def scale(m: LabHost, name: str, replicas: int) -> None:
    update_service(m, name, lambda s: s["Mode"].update({"Replicated": {"Replicas": replicas}}))


def tasks(m: LabHost, service: str) -> list[dict[str, Any]]:
    return list(api(m, "GET", "/tasks",
                    params={"filters": json.dumps({"service": [service]})}) or [])


def running_tasks(m: LabHost, service: str) -> list[dict[str, Any]]:
    """Return the tasks of SERVICE desired and observed running."""
    return [t for t in tasks(m, service)
            if t.get("DesiredState") == "running"
            and (t.get("Status") or {}).get("State") == "running"]


def hosts_of(lab: Lab, m: LabHost, service: str) -> Counter[str]:
    """Return how many running tasks of SERVICE each lab host runs (by node hostname)."""
    names = {n["ID"]: (n.get("Description") or {}).get("Hostname", "?") for n in nodes(m)}
    return Counter(names.get(t.get("NodeID", ""), "?") for t in running_tasks(m, service))


def containers(h: LabHost, service: str) -> list[str]:
    """Return the task ids of SERVICE's containers running on host H."""
    label = f"com.docker.swarm.service.name={service}"
    got = api(h, "GET", "/containers/json",
              params={"filters": json.dumps({"label": [label]})}) or []
    return [c.get("Labels", {}).get("com.docker.swarm.task.id", "?") for c in got]


def check_converged(lab: Lab, service: str, replicas: int,
                    down: tuple[LabHost, ...] = ()) -> str:
    """Return "" if SERVICE is converged at REPLICAS (module docstring), else what is wrong.

    DOWN: hosts that are off or cut off (their containers are not counted).
    """
    m = manager(lab, down)
    problems: list[str] = []
    ready = {n["ID"] for n in nodes(m) if (n.get("Status") or {}).get("State") == "ready"}
    wanted = [t for t in tasks(m, service) if t.get("DesiredState") == "running"]
    slots = Counter(int(t.get("Slot") or 0) for t in wanted)
    if sorted(slots) != list(range(1, replicas + 1)) or any(c != 1 for c in slots.values()):
        problems.append(f"slots of tasks desired running: {dict(sorted(slots.items()))}")
    not_running = [t["ID"][:8] for t in wanted if (t.get("Status") or {}).get("State")
                   != "running"]
    if not_running:
        problems.append(f"tasks not running yet: {not_running}")
    off_nodes = [t["ID"][:8] for t in wanted if t.get("NodeID") not in ready]
    if off_nodes:
        problems.append(f"tasks on nodes not ready: {off_nodes}")
    seen: Counter[str] = Counter()
    off = {h.name for h in down}
    for h in lab.hosts:
        if h.role == "registry" or h.name in off or not h.running():
            continue
        seen.update(containers(h, service))
    expected = {t["ID"] for t in wanted}
    extra = sorted(t[:8] for t in seen if t not in expected)
    if extra:
        problems.append(f"containers running for tasks not desired: {extra}")
    twice = sorted(t[:8] for t, c in seen.items() if c > 1)
    if twice:
        problems.append(f"tasks with more than one container: {twice}")
    missing = sorted(t[:8] for t in expected if t not in seen)
    if missing:
        problems.append(f"tasks without a running container: {missing}")
    return "; ".join(problems)


def wait_converged(lab: Lab, service: str, replicas: int, down: tuple[LabHost, ...] = (),
                   timeout: float = 90) -> None:
    """Wait until SERVICE is converged at REPLICAS, checked twice 1 s apart (stable)."""
    last = [""]

    def probe() -> bool:
        last[0] = check_converged(lab, service, replicas, down)
        if last[0]:
            return False
        time.sleep(1.0)
        last[0] = check_converged(lab, service, replicas, down)
        return not last[0]

    try:
        wait_for(f"{service} converged at {replicas}", probe, timeout, interval=0.5)
    except NotConverged as exc:
        raise NotConverged(f"{exc}: {last[0]}") from None


def remove_service(m: LabHost, service: str) -> None:
    api(m, "DELETE", f"/services/{service}")


def etcd_pid(h: LabHost) -> int | None:
    """Return the pid of host H's etcd member, if it runs one (found by process name)."""
    for pid in h.pids():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "etcd":
                return pid
        except OSError:
            continue
    return None
