"""Multi-host figures on a 5-host lab (3 managers, 2 workers): issue 6, part 8.

    python bench/multihost.py [-t 5] [--repeat 3] [-n 200] [--deploys 3] [--parts tcp,dns,deploy]

Figures, on one `shoal lab` (docs/lab.md) this script makes and removes:
  tcp     TCP throughput (iperf3, 1 stream, T s) between two tasks of one service
          on two worker hosts, over the service's overlay network, vs between
          the two worker hosts directly over the underlay.          target >= 0.8
          The host's iperf3 runs entered into each namespace (`nsenter --net`),
          a task's being /proc/<State.Pid>/ns/net, so one binary measures both;
          medians of REPEAT runs, the two sides alternating. The judged figure
          leaves the iperf3 ends where the scheduler puts them; two more rows pin
          them (iperf3 -A) to one CPU and to two CPUs, because on a small machine
          the placement alone moves the ratio by about +-0.05 (docs/multihost.md).
  dns     the embedded DNS from inside a task: N `nslookup NAME` in one busybox
          loop, minus the same loop of `/bin/true` (a process each), per lookup,
          best of 3;
          NAME = a service (`web`, global: its VIP), `tasks.web`, and the task's own
          container name.
  deploy  seconds from `stack deploy` of 3 services x 10 replicas (30 tasks, one
          overlay network, busybox imported on every host) until all 30 run;
          median of DEPLOYS, the stack removed between them.

Docker Swarm is not the peer here: a multi-host swarm would need several
dockerds, each in a lab host's namespaces with its own data and exec roots,
joined over the underlay, which this script does not set up; bench/converge.py
compares single-host convergence with Swarm instead.
Traffic goes only to the lab's own addresses; the lab is removed on exit.
"""

from __future__ import annotations

import argparse
import functools
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import busybox_tar, rmtree
from network import iperf_gbits, paired

from shoal.cli.lab import Lab, LabHost

NET = "benchnet"


def until(check: Callable[[], Any], timeout: float = 300, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not met in {timeout:.0f} s")


def tasks(m: LabHost, service: str | None = None) -> list[dict[str, Any]]:
    from shoal.cli.client import Client

    filters: dict[str, list[str]] = {"desired-state": ["running"]}
    if service:
        filters["service"] = [service]
    c = Client(m.host)
    try:
        got = c.request("GET", "/tasks", params={"filters": json.dumps(filters)}).json()
        return got  # type: ignore[no-any-return]
    finally:
        c.close()


def n_running(m: LabHost, service: str | None = None) -> int:
    return sum(t["Status"]["State"] == "running" for t in tasks(m, service))


def container(lab: Lab, service: str) -> list[tuple[LabHost, dict[str, Any]]]:
    """Return (host, inspect) of every running container of SERVICE."""
    out = []
    for h in lab.hosts:
        ids = h.cli("ps", "-q", "-f", f"label=com.docker.swarm.service.name={service}",
                    check=True).stdout.split()
        for cid in ids:
            out.append((h, json.loads(h.cli("inspect", cid, check=True).stdout)[0]))
    return out


# ---- tcp -------------------------------------------------------------------------
def bench_tcp(lab: Lab, seconds: int, repeat: int) -> list[list[str]]:
    m = lab.managers[0]
    m.cli("service", "create", "-d", "--name", "perf", "--network", NET, "--replicas", "2",
          "--replicas-max-per-node", "1", "--constraint", "node.role==worker",
          "busybox", "sleep", "3600", check=True)
    until(lambda: n_running(m, "perf") == 2, what="perf 2/2")
    (ha, ca), (hb, cb) = until(lambda: (c := container(lab, "perf")) and len(c) == 2 and c,
                               what="perf containers")
    ns_a, ns_b = (f"/proc/{c['State']['Pid']}/ns/net" for c in (ca, cb))
    ip_b = cb["NetworkSettings"]["Networks"][NET]["IPAddress"]
    try:
        overlay, underlay = paired(lambda: iperf_gbits(ns_a, ns_b, ip_b, seconds),
                                   lambda: iperf_gbits(ha.netns, hb.netns, hb.addr, seconds),
                                   repeat)
        ratio = overlay / underlay
        rows = [[f"TCP, task to task across 2 hosts over the overlay ({ha.name} -> {hb.name})",
                 f"{overlay:.2f} Gbit/s", "the 2 hosts over the underlay",
                 f"{underlay:.2f} Gbit/s", f"{ratio:.3f}x", ">= 0.8",
                 "yes" if ratio >= 0.8 else "**no**"]]
        for aff, where in (("0,0", "client and server on one CPU"),
                           ("0,1", "client and server on two CPUs")):
            o, u = paired(functools.partial(iperf_gbits, ns_a, ns_b, ip_b, seconds, aff),
                          functools.partial(iperf_gbits, ha.netns, hb.netns, hb.addr, seconds,
                                            aff),
                          repeat)
            rows.append([f"the same, {where} (iperf3 -A {aff}; not the judged figure)",
                         f"{o:.2f} Gbit/s", "the same, over the underlay", f"{u:.2f} Gbit/s",
                         f"{o / u:.3f}x", "", ""])
    except Exception as exc:  # the overlay not reaching across hosts is itself the figure
        print(f"tcp: {exc}", file=sys.stderr)
        underlay = statistics.median(iperf_gbits(ha.netns, hb.netns, hb.addr, seconds)
                                     for _ in range(repeat))
        rows = [["TCP, task to task across 2 hosts over the overlay", "unreachable",
                 "the 2 hosts over the underlay", f"{underlay:.2f} Gbit/s", "-", ">= 0.8",
                 "**no**"]]
    m.cli("service", "rm", "perf", check=True)
    return rows


# ---- dns -------------------------------------------------------------------------
def loop_seconds(h: LabHost, cid: str, body: str, n: int) -> float:
    script = f"i=0; while [ $i -lt {n} ]; do {body} >/dev/null 2>&1; i=$((i+1)); done"
    t0 = time.perf_counter()
    h.cli("exec", cid, "sh", "-c", script, check=True, timeout=600)
    return time.perf_counter() - t0


def bench_dns(lab: Lab, n: int) -> list[list[str]]:
    m = lab.managers[0]
    # web runs on every host (global), so the probe's host has a task of it either way.
    for name, mode in (("web", ["--mode", "global"]), ("probe", ["--replicas", "1"])):
        m.cli("service", "create", "-d", "--name", name, "--network", NET, *mode,
              "busybox", "sleep", "3600", check=True)
    until(lambda: n_running(m, "web") == len(lab.hosts) and n_running(m, "probe") == 1,
          what="web, probe")
    ((h, info),) = container(lab, "probe")
    cid, own = info["Id"], info["Name"].lstrip("/")
    base = min(loop_seconds(h, cid, "/bin/true", n) for _ in range(3))
    rows = []
    for name in ("web", "tasks.web", own):
        took = min(loop_seconds(h, cid, f"nslookup {name}", n) for _ in range(3))
        ok = h.cli("exec", cid, "nslookup", name).returncode == 0
        per = (took - base) / n * 1000
        rows.append([f"DNS, `nslookup {name}` in a task ({n} in a loop, minus /bin/true)",
                     f"{per:.2f} ms" if ok else "no answer", "", "", "", "", ""])
    for name in ("web", "probe"):
        m.cli("service", "rm", name, check=True)
    return rows


# ---- deploy ----------------------------------------------------------------------
STACK = """services:
{services}"""
SERVICE = """  s{i}:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    deploy:
      replicas: 10
"""


def bench_deploy(lab: Lab, work: Path, deploys: int) -> list[list[str]]:
    m = lab.managers[0]
    f = work / "stack30.yml"
    f.write_text(STACK.format(services="".join(SERVICE.format(i=i) for i in range(3))))
    times = []
    for _ in range(deploys):
        t0 = time.monotonic()
        m.cli("stack", "deploy", "-c", str(f), "b30", check=True)
        until(lambda: n_running(m) >= 30, what="30 tasks running")
        times.append(time.monotonic() - t0)
        hosts = {t["NodeID"] for t in tasks(m)}
        m.cli("stack", "rm", "b30", check=True)
        until(lambda: not tasks(m) and not any(
            h.cli("ps", "-aq", "-f", f"label=com.docker.swarm.service.name=b30_s{i}").stdout.split()
            for h in lab.hosts for i in range(3)), what="b30 removed")
        print(f"deploy: {times[-1]:.2f} s, on {len(hosts)} hosts", file=sys.stderr)
    return [["Deploy, 3 services x 10 tasks on 5 hosts, until 30 run",
             f"{statistics.median(times):.2f} s", "(Docker Swarm: not measured)", "",
             "", "", ""]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-t", type=int, default=5, help="seconds per iperf3 run")
    ap.add_argument("--repeat", type=int, default=3, help="iperf3 runs per side")
    ap.add_argument("-n", type=int, default=500, help="DNS lookups per loop")
    ap.add_argument("--deploys", type=int, default=3, help="stack deploys to time")
    ap.add_argument("--parts", default="tcp,dns,deploy")
    a = ap.parse_args()
    parts = set(a.parts.split(","))
    work = Path(tempfile.mkdtemp(prefix="shoal-bench-mh."))
    lab = None
    rows: list[list[str]] = []
    try:
        t0 = time.monotonic()
        lab = Lab.up("bm" + secrets.token_hex(2), nodes=5, managers=3, root=work / "labs")
        tar = busybox_tar(work / "busybox.tar")
        for h in lab.hosts:
            h.cli("import", str(tar), "busybox:latest", check=True)
        lab.managers[0].cli("network", "create", "-d", "overlay", NET, check=True)
        print(f"lab of 5 hosts ready in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        if "tcp" in parts:
            rows += bench_tcp(lab, a.t, a.repeat)
        if "dns" in parts:
            rows += bench_dns(lab, a.n)
        if "deploy" in parts:
            rows += bench_deploy(lab, work, a.deploys)
    finally:
        if lab is not None:
            problems = lab.down()
            if problems:
                print("lab down left:", *problems, sep="\n  ", file=sys.stderr)
        rmtree(work)
    print("| what | shoal | peer | peer figure | ratio | target | met |")
    print("|---|---:|---|---:|---:|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
