"""Checks shared by e2e/test_stack.py (3 hosts) and e2e/test_stack_ha.py (5 hosts).

A stack of examples/web-stack.yml runs on a lab (docs/lab.md); these helpers
read the cluster through a manager's API and the hosts through their own
daemons and network namespaces, and wait for conditions without ever asserting
how long anything took.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from shoal.cli.lab import Lab, LabHost

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "web-stack.yml"
T = TypeVar("T")


def until(check: Callable[[], T], timeout: float = 120, what: str = "condition") -> T:
    """Return CHECK()'s first truthy result, polling; fail naming WHAT after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what}: not met in {timeout:.0f} s"
        time.sleep(0.5)


def api(host: LabHost, path: str, params: dict[str, str] | None = None) -> Any:
    """Return the decoded JSON of GET PATH on HOST's daemon."""
    from shoal.cli.client import Client

    c = Client(host.host)
    try:
        return c.request("GET", path, params=params).json()
    finally:
        c.close()


def deploy(host: LabHost, stack: str, **env: str) -> None:
    """Deploy examples/web-stack.yml as STACK through HOST, with ENV for its variables."""
    import subprocess
    import sys

    shoal = Path(sys.executable).parent / "shoal"
    r = subprocess.run([str(shoal), "-H", host.host, "stack", "deploy", "-c", str(EXAMPLE), stack],
                       capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert r.returncode == 0, r.stdout + r.stderr


def node_names(lab: Lab) -> dict[str, str]:
    """Return {node id: hostname} of the lab's cluster."""
    return {n["ID"]: n["Description"]["Hostname"] for n in lab.nodes()}


def running(lab: Lab, service: str) -> list[dict[str, Any]]:
    """Return SERVICE's tasks desired running, as a manager's API lists them."""
    filters = json.dumps({"service": [service], "desired-state": ["running"]})
    return api(lab.managers[0], "/tasks", {"filters": filters})  # type: ignore[no-any-return]


def converged(lab: Lab, service: str, replicas: int) -> dict[str, str]:
    """Wait until SERVICE runs exactly REPLICAS tasks, each slot once; return {slot: host}.

    The invariants hold at the moment of success: no slot twice among the tasks
    desired running, and every one of them observed running.
    """
    names = node_names(lab)

    def check() -> dict[str, str] | None:
        tasks = running(lab, service)
        slots = Counter(t["Slot"] for t in tasks)
        if len(tasks) != replicas or any(c > 1 for c in slots.values()):
            return None
        if any(t["Status"]["State"] != "running" for t in tasks):
            return None
        return {str(t["Slot"]): names[t["NodeID"]] for t in tasks}

    return until(check, what=f"{service} at exactly {replicas} running tasks")


def container_of(host: LabHost, service: str) -> str:
    """Return the id of a running container of SERVICE's tasks on HOST."""
    r = host.cli("ps", "-q", "-f", f"label=com.docker.swarm.service.name={service}", check=True)
    ids = r.stdout.split()
    assert ids, f"no container of {service} on {host.name}"
    return ids[0]


def hostnames_of(lab: Lab, service: str) -> dict[str, str]:
    """Return {container hostname: lab host} of SERVICE's running containers on every host."""
    out: dict[str, str] = {}
    for h in lab.hosts:
        r = h.cli("ps", "-q", "-f", f"label=com.docker.swarm.service.name={service}", check=True)
        for cid in r.stdout.split():
            (info,) = json.loads(h.cli("inspect", cid, check=True).stdout)
            out[info["Config"]["Hostname"]] = h.name
    return out


def fetch(url: str, timeout: float = 3) -> str | None:
    """Return the body of URL, or None when it does not answer (yet)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with opener.open(url, timeout=timeout) as r:
            return r.read().decode().strip()
    except OSError:
        return None


def published_everywhere(lab: Lab, port: int) -> dict[str, str]:
    """Wait until PORT answers on every host's underlay address; return {host: page}."""
    pages: dict[str, str] = {}
    for h in lab.hosts:
        page = until(lambda h=h: fetch(f"http://{h.addr}:{port}/"),  # type: ignore[misc]
                     timeout=60, what=f"published port {port} on {h.name} ({h.addr})")
        assert page.startswith("hello from "), page
        pages[h.name] = page
    return pages


def host_network_leftovers(lab: Lab, stack: str) -> list[str]:
    """Return what is left on any host of STACK's networks: API entries, namespaces, links."""
    found: list[str] = []
    for h in lab.hosts:
        names = [n["Name"] for n in api(h, "/networks")]
        found += [f"{h.name}: network {n}" for n in names if n.startswith(f"{stack}_")]
        run = h.state.run_root
        for sub in ("overlay-netns", "bridge-netns"):
            d = run / sub
            if d.is_dir():
                found += [f"{h.name}: {sub}/{p.name}" for p in d.iterdir() if p.name != "shoal0"]
        links = h.exec("ip", "-o", "link", "show").stdout.splitlines()
        extra = [ln.split(":")[1].strip().split("@")[0] for ln in links]
        found += [f"{h.name}: link {x}" for x in extra if x not in ("lo", "eth0", "shoal0")]
    return found
