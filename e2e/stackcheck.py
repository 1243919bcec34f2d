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

import pytest

from shoal.cli.lab import Lab, LabHost

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "web-stack.yml"
T = TypeVar("T")

# The agent side of multi-host networking (overlay backing across hosts, DNS of
# service names with VIPs, the routing mesh) is what cross-host checks need;
# until its modules are committed they would only measure their absence (a
# file still being written in a shared work tree does not count).
MESH = "engine/network/mesh.py"


def _mesh_landed() -> bool:
    import subprocess

    if not (REPO / MESH).exists():
        return False
    r = subprocess.run(["git", "-C", str(REPO), "ls-files", "--error-unmatch", MESH],
                       capture_output=True)
    return r.returncode == 0 or not (REPO / ".git").exists()


needs_mesh = pytest.mark.skipif(
    not _mesh_landed(),
    reason=f"cross-host service DNS/VIPs and the routing mesh ({MESH}) not committed yet",
)


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


VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


def stack_networks(lab: Lab, stack: str) -> list[tuple[str, str]]:
    """Return (id, VNI) of STACK's networks, as a manager lists them."""
    nets = api(lab.managers[0], "/networks")
    return [(n["Id"], (n.get("Options") or {}).get(VNI_OPTION, ""))
            for n in nets if n["Name"].startswith(f"{stack}_")]


def host_network_leftovers(lab: Lab, stack: str, nets: list[tuple[str, str]]) -> list[str]:
    """Return what any host still has of STACK's networks NETS (id, VNI).

    Its `/networks` entries, the overlay's namespace (<run>/overlay-netns/<id[:12]>),
    a bridge namespace naming it, and links of the host namespace naming its id or
    its VNI (the routing mesh's <prefix>i<VNI>).
    """
    found: list[str] = []
    for h in lab.hosts:
        names = [n["Name"] for n in api(h, "/networks")]
        found += [f"{h.name}: network {n}" for n in names if n.startswith(f"{stack}_")]
        links = [ln.split(":")[1].strip().split("@")[0]
                 for ln in h.exec("ip", "-o", "link", "show").stdout.splitlines()]
        for nid, vni in nets:
            short = nid[:12]
            for sub in ("overlay-netns", "bridge-netns"):
                d = h.state.run_root / sub
                if d.is_dir():
                    found += [f"{h.name}: {sub}/{p.name}" for p in d.iterdir()
                              if short in p.name or nid[:10] in p.name]
            found += [f"{h.name}: link {x}" for x in links
                      if nid[:10] in x or (vni and x.endswith(f"i{vni}"))]
    return found


def reaches_web_by_name_from_elsewhere(lab: Lab, stack: str, port: int, replicas: int) -> None:
    """Check the client reaches `web` by name from a host that runs no web task.

    Web is kept off the client's host by a constraint, so every answer crosses
    the underlay: pages come from at least two tasks on other hosts, `tasks.web`
    lists every task, and the published port answers on the client's host too
    (the routing mesh). The constraint goes again at the end.
    """
    m = lab.managers[0]
    web = f"{stack}_web"
    (client_host,) = converged(lab, f"{stack}_client", 1).values()
    off = f"node.hostname!={client_host}"
    m.cli("service", "update", "-q", "--constraint-add", off, web, check=True)
    try:
        _by_name_from(lab, stack, port, replicas, client_host)
    finally:  # the later tests of the module need web everywhere again
        m.cli("service", "update", "-q", "--constraint-rm", off, web, check=True)
        converged(lab, web, replicas)


def _by_name_from(lab: Lab, stack: str, port: int, replicas: int, client_host: str) -> None:
    web = f"{stack}_web"
    slots = converged(lab, web, replicas)
    assert client_host not in slots.values()
    owners = hostnames_of(lab, web)
    assert set(owners.values()) == set(slots.values())
    client = lab.host(client_host)
    cid = container_of(client, f"{stack}_client")
    last: list[str] = []

    def pages() -> set[str] | None:
        seen: set[str] = set()
        for _ in range(12):  # new connections: the VIP spreads them over the tasks
            # busybox 1.35's `wget -T` segfaults (exit 139): `timeout` bounds it instead.
            r = client.cli("exec", cid, "timeout", "5", "wget", "-q", "-O", "-", "http://web/")
            if r.returncode != 0:
                last[:] = [r.stdout + r.stderr]
                return None
            seen.add(r.stdout.strip().removeprefix("hello from "))
        last[:] = [f"only {seen}"]
        return seen if len(seen) >= 2 else None

    try:
        seen = until(pages, timeout=60, what="web by name from the client, two tasks answering")
    except AssertionError as exc:
        ns = client.cli("exec", cid, "nslookup", "web")
        raise AssertionError(f"{exc}; last: {last}; nslookup web: {ns.stdout}{ns.stderr}") from None
    assert seen <= set(owners), (seen, owners)
    r = client.cli("exec", cid, "nslookup", "tasks.web", check=True)
    addrs = [ln.split()[-1] for ln in r.stdout.splitlines()
             if ln.startswith("Address") and "127.0.0.11" not in ln]
    assert len(addrs) == replicas, r.stdout
    assert published_everywhere(lab, port)[client_host].startswith("hello from ")


def containers(host: LabHost, service: str, all: bool = False) -> list[str]:
    """Return the ids of SERVICE's running containers on HOST (ALL: stopped ones too)."""
    label = f"label=com.docker.swarm.service.name={service}"
    r = host.cli("ps", "-aq" if all else "-q", "-f", label, check=True)
    return r.stdout.split()


def drain_keeps_exact_counts(lab: Lab, stack: str, worker: LabHost, replicas: int) -> None:
    """Drain WORKER: its web tasks move to other hosts, counts stay exact; then activate it."""
    m, web = lab.managers[0], f"{stack}_web"
    m.cli("node", "update", "--availability", "drain", worker.name, check=True)
    try:
        def drained() -> dict[str, str] | None:
            slots = converged(lab, web, replicas)
            return None if worker.name in slots.values() else slots

        slots = until(drained, what=f"{web} off {worker.name}")
        assert sorted(slots, key=int) == [str(i) for i in range(1, replicas + 1)]
        until(lambda: not containers(worker, web), what=f"{web} containers off {worker.name}")
    finally:
        m.cli("node", "update", "--availability", "active", worker.name, check=True)
    (node,) = [n for n in lab.nodes() if n["Description"]["Hostname"] == worker.name]
    assert node["Spec"]["Availability"] == "active"


def stack_rm_leaves_nothing(lab: Lab, stack: str) -> None:
    """Remove STACK: no service, container or network of it is left on any host."""
    m = lab.managers[0]
    nets = stack_networks(lab, stack)
    assert nets, f"{stack} has no network"
    m.cli("stack", "rm", stack, check=True)
    until(lambda: not m.cli("service", "ls", "-q", check=True).stdout.split(),
          what="services gone")
    until(lambda: not any(containers(h, f"{stack}_{s}", all=True)
                          for h in lab.hosts for s in ("web", "client")),
          what=f"{stack}'s containers gone from every host")
    until(lambda: not host_network_leftovers(lab, stack, nets), timeout=60,
          what=f"{stack}'s networks gone from every host")
