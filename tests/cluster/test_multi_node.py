"""Several daemons on this host form one cluster: join, worker limits, dead nodes, failover."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

import pytest

from shoal.manager.etcd import check_health

from .conftest import free_port_pair
from .test_single_host import _running, _wait

pytestmark = pytest.mark.root


def _token(d, role: str) -> str:
    return d.cli("cluster", "join-token", "-q", role, check=True).stdout.strip()


def _tasks_on(d, service: str) -> dict[str, str]:
    """Return {task name: node hostname-or-id} of the running tasks of SERVICE."""
    out = d.cli("service", "ps", "--format", "{{.Name}} {{.Node}} {{.DesiredState}} "
                "{{.CurrentState}}", service).stdout
    tasks = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "Running" and parts[3] == "Running":
            tasks[parts[0]] = parts[1]
    return tasks


def test_worker_joins_cannot_manage_and_its_death_moves_tasks(cluster):
    m = cluster.daemon("m1")
    m.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{m.port}", check=True)
    m.cli("cluster", "update", "--dispatcher-heartbeat", "1s", check=True)
    w = cluster.daemon("w1")
    r = w.cli("cluster", "join", "--token", _token(m, "worker"), "--advertise-addr",
              f"127.0.0.1:{w.port}", f"127.0.0.1:{m.port}")
    assert r.returncode == 0, r.stderr
    _wait(lambda: m.cli("node", "ls").stdout.count("Ready") == 2)
    r = w.cli("service", "ls")
    assert r.returncode != 0 and "not a swarm manager" in r.stderr
    worker_id = next(ln.split()[0] for ln in m.cli("node", "ls").stdout.splitlines()[1:]
                     if "*" not in ln)
    # put every task on the worker first, then let the manager take them over
    m.cli("service", "create", "--name", "movers", "--replicas", "2", "--constraint",
          "node.role==worker", "busybox", "sleep", "1000", check=True)
    assert _running(m, "movers") == 2
    assert len(w.api("GET", "/containers/json")[1]) == 2
    m.cli("service", "update", "--constraint-rm", "node.role==worker", "-d", "movers")
    w.stop(signal.SIGKILL)  # the worker's daemon dies (its containers live on)
    t0 = time.time()
    _wait(lambda: "Down" in m.cli("node", "ls").stdout, timeout=20)
    _wait(lambda: len([n for n in _tasks_on(m, "movers").values()
                       if not n.startswith(worker_id[:6])]) == 2, timeout=30)
    assert time.time() - t0 < 30
    w.start()  # it comes back: its stale tasks are shut down, never more than 2 running
    _wait(lambda: "Down" not in m.cli("node", "ls").stdout, timeout=20)
    _wait(lambda: not [c for c in w.api("GET", "/containers/json")[1]
                       if c["Names"][0].startswith("/movers.")], timeout=30)
    assert _running(m, "movers") == 2


@pytest.fixture
def etcd(tmp_path):
    """An external etcd (a plain child process: it must outlive any one event loop)."""
    client, peer = free_port_pair(), free_port_pair()
    url = f"http://127.0.0.1:{client}"
    proc = subprocess.Popen(
        ["etcd", "--name", "ext", "--data-dir", str(tmp_path / "etcd"),
         "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"ext=http://127.0.0.1:{peer}", "--log-level", "warn"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "etcd.log", "wb"))
    try:
        _wait(lambda: asyncio.run(check_health("127.0.0.1", client)), timeout=20)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def test_second_manager_takes_over_when_the_leader_dies(cluster, etcd):
    m1 = cluster.daemon("m1")
    m1.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{m1.port}",
           "--etcd-endpoints", etcd, check=True)
    m2 = cluster.daemon("m2")
    r = m2.cli("cluster", "join", "--token", _token(m1, "manager"), "--advertise-addr",
               f"127.0.0.1:{m2.port}", f"127.0.0.1:{m1.port}")
    assert r.returncode == 0, r.stderr
    _wait(lambda: m2.cli("node", "ls").stdout.count("Ready") == 2)
    m1.cli("service", "create", "--name", "kept", "--replicas", "2", "busybox", "sleep",
           "1000", check=True)
    m1.stop(signal.SIGKILL)  # the leader's process dies
    t0 = time.time()

    def m2_leads() -> bool:
        rows = [ln for ln in m2.cli("node", "ls").stdout.splitlines() if "*" in ln]
        return bool(rows) and "Leader" in rows[0]

    _wait(m2_leads, timeout=15)
    failover = time.time() - t0
    assert failover < 5 + 3  # the lease TTL, plus what the CLI polling adds
    r = m2.cli("service", "scale", "-d", "kept=3")
    assert r.returncode == 0, r.stderr
    _wait(lambda: _running(m2, "kept") >= 3, timeout=60)
    m1.start()


def test_promote_and_demote(cluster, etcd):
    m = cluster.daemon("m1")
    m.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{m.port}", "--etcd-endpoints",
          etcd, check=True)
    w = cluster.daemon("w1")
    w.cli("cluster", "join", "--token", _token(m, "worker"), "--advertise-addr",
          f"127.0.0.1:{w.port}", f"127.0.0.1:{m.port}", check=True)
    _wait(lambda: m.cli("node", "ls").stdout.count("Ready") == 2)
    assert w.cli("service", "ls").returncode != 0
    worker_id = next(ln.split()[0] for ln in m.cli("node", "ls").stdout.splitlines()[1:]
                     if "*" not in ln)
    m.cli("node", "promote", worker_id, check=True)
    last: list[str] = []

    def manages() -> bool:
        r = w.cli("service", "ls")
        last[:] = [r.stderr]
        return r.returncode == 0

    try:
        _wait(manages, timeout=30)
    except AssertionError:
        raise AssertionError(f"the promoted node cannot manage: {last}") from None
    _wait(lambda: "Reachable" in m.cli("node", "ls").stdout, timeout=30)
    m.cli("node", "demote", worker_id, check=True)
    _wait(lambda: w.cli("service", "ls").returncode != 0, timeout=30)
