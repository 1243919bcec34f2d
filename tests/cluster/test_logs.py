"""`shoal service logs` on a manager gathers the logs of the agents of every node."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time

import pytest

from tests.daemon import BIN

from .test_multi_node import _token
from .test_single_host import _running, _wait

pytestmark = pytest.mark.root

# each task says which container it is, then ticks once a second
SCRIPT = 'echo "hello from $(hostname)"; i=0; while true; do i=$((i+1)); ' \
         'echo "tick $i from $(hostname)"; sleep 1; done'
LINE = re.compile(r"^(?P<service>[\w.-]+)\.(?P<slot>\d+)\.(?P<task>\w+)@(?P<node>\S+)\s+\| "
                  r"(?P<msg>.*)$")


def _parse(out: str) -> list[dict[str, str]]:
    """Return the prefixed lines of `service logs` output as dicts (prefix parts, msg)."""
    found = []
    for raw in out.splitlines():
        m = LINE.match(raw)
        assert m is not None, f"unexpected log line {raw!r}"
        found.append(m.groupdict())
    return found


def _node_ids(d) -> set[str]:
    return {ln.split()[0] for ln in d.cli("node", "ls", "-q").stdout.split("\n") if ln.strip()}


def test_service_logs_gather_both_nodes_tail_and_follow(cluster):
    m = cluster.daemon("m1")
    m.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{m.port}", check=True)
    w = cluster.daemon("w1")
    w.cli("cluster", "join", "--token", _token(m, "worker"), "--advertise-addr",
          f"127.0.0.1:{w.port}", f"127.0.0.1:{m.port}", check=True)
    _wait(lambda: m.cli("node", "ls").stdout.count("Ready") == 2)
    nodes = _node_ids(m)
    assert len(nodes) == 2
    m.cli("service", "create", "--name", "echoes", "--replicas", "2",
          "--replicas-max-per-node", "1", "busybox", "sh", "-c", SCRIPT, check=True)
    assert _running(m, "echoes") == 2
    assert len(w.api("GET", "/containers/json")[1]) == 1  # one task on each node
    assert len(m.api("GET", "/containers/json")[1]) == 1

    # every node's lines, prefixed name.slot.task@node as docker prints them
    def both_said_hello() -> list[dict[str, str]] | None:
        r = m.cli("service", "logs", "--no-resolve", "echoes")
        assert r.returncode == 0, r.stderr
        assert "error from daemon" not in r.stderr, r.stderr
        lines = _parse(r.stdout)
        hellos = [x for x in lines if x["msg"].startswith("hello from ")]
        return lines if len(hellos) == 2 else None

    lines = _wait(both_said_hello, timeout=20)
    assert {x["node"] for x in lines} == nodes  # node ids, from both nodes
    assert {x["slot"] for x in lines} == {"1", "2"}
    hosts = {x["msg"].split()[-1] for x in lines}
    assert len(hosts) == 2  # two containers, one per node
    by_task: dict[str, list[str]] = {}
    for x in lines:
        by_task.setdefault(x["task"], []).append(x["msg"])
    assert len(by_task) == 2
    for msgs in by_task.values():  # each task's lines in order, from its first one
        assert msgs[0].startswith("hello from ")
        ticks = [int(s.split()[1]) for s in msgs[1:]]
        assert ticks == list(range(1, len(ticks) + 1))

    # the resolved form names the service and the nodes' hostname
    r = m.cli("service", "logs", "echoes", check=True)
    assert all(x["service"] == "echoes" for x in _parse(r.stdout))

    # --tail 1: the last line of each task; -t puts the time first
    r = m.cli("service", "logs", "--tail", "1", "-t", "echoes", check=True)
    tail = r.stdout.splitlines()
    assert len(tail) == 2, r.stdout
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z echoes\.\d\.\w+@", ln)
               for ln in tail), tail
    assert {ln.split()[-1] for ln in tail} == hosts

    # -f: the last lines, then new ticks from both nodes as they come; ends on Ctrl-C
    seen = {h: max((int(x["msg"].split()[1]) for x in lines
                    if x["msg"].endswith(h) and x["msg"].startswith("tick")), default=0)
            for h in hosts}
    proc = subprocess.Popen([str(BIN / "shoal"), "service", "logs", "-f", "--tail", "1",
                             "echoes"], env={**os.environ, "SHOAL_HOST": m.host},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        newer: dict[str, int] = {}
        buf = b""
        deadline = time.time() + 20
        while len(newer) < 2 and time.time() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)  # type: ignore[union-attr]
            if not chunk:
                break
            buf += chunk
            *complete, buf = buf.split(b"\n")
            for raw in complete:
                msg = _parse(raw.decode())[0]["msg"]
                if msg.startswith("tick") and int(msg.split()[1]) > seen[msg.split()[-1]]:
                    newer[msg.split()[-1]] = int(msg.split()[1])
        assert set(newer) == hosts, f"no new lines from both nodes: {newer} {buf!r}"
        assert proc.poll() is None  # still following
        t0 = time.time()
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        assert time.time() - t0 < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the manager is fine after the client left: a plain call still answers at once
    r = m.cli("service", "logs", "--tail", "1", "echoes", timeout=20, check=True)
    assert len(r.stdout.splitlines()) == 2


def test_service_logs_name_a_node_that_is_down(cluster):
    m = cluster.daemon("m1")
    m.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{m.port}", check=True)
    m.cli("cluster", "update", "--dispatcher-heartbeat", "1s", check=True)
    w = cluster.daemon("w1")
    w.cli("cluster", "join", "--token", _token(m, "worker"), "--advertise-addr",
          f"127.0.0.1:{w.port}", f"127.0.0.1:{m.port}", check=True)
    _wait(lambda: m.cli("node", "ls").stdout.count("Ready") == 2)
    m.cli("service", "create", "--name", "echoes", "--replicas", "2",
          "--replicas-max-per-node", "1", "busybox", "sh", "-c", SCRIPT, check=True)
    assert _running(m, "echoes") == 2
    worker_id = (_node_ids(m) - {_self_id(m)}).pop()
    w.stop(signal.SIGKILL)  # its task's container lives on, but nobody can read it
    _wait(lambda: "Down" in m.cli("node", "ls").stdout, timeout=20)
    r = m.cli("service", "logs", "echoes", timeout=30)
    assert "hello from" in r.stdout  # the manager's own task
    assert r.returncode != 0
    assert ("error from daemon in stream: Error grabbing logs: warning: incomplete log "
            f"stream. some logs could not be retrieved for the following reasons: node "
            f"{worker_id} is not available") in r.stderr


def _self_id(d) -> str:
    return str(d.api("GET", "/info")[1]["Swarm"]["NodeID"])
