"""A one-host cluster on the embedded etcd, driven through the `shoal` CLI."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.root


def _wait(check, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out; last value {value!r}")
        time.sleep(interval)


def _running(d, service: str) -> int:
    out = d.cli("service", "ls").stdout
    for line in out.splitlines()[1:]:
        parts = line.split()
        if parts[1] == service:
            return int(parts[3].split("/")[0])
    return -1


def test_init_create_scale_remove(cluster):
    d = cluster.daemon("m1")
    r = d.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{d.port}")
    assert r.returncode == 0, r.stderr
    assert "shoal cluster join" in r.stdout or "join-token" in r.stdout
    nodes = d.cli("node", "ls").stdout
    assert "Leader" in nodes and "Ready" in nodes
    r = d.cli("service", "create", "--name", "sleepers", "--replicas", "3",
              "-e", "K=V", "--label", "team=fish", "--stop-grace-period", "1s",
              "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    assert "overall progress" in r.stdout or "converged" in r.stdout
    assert _running(d, "sleepers") == 3
    assert " 3/3 " in d.cli("service", "ls").stdout
    ps = d.cli("service", "ps", "sleepers").stdout
    assert ps.count("Running") >= 6  # desired and current, 3 tasks
    names = d.cli("ps", "--format", "{{.Names}}").stdout.split()
    assert len([n for n in names if n.startswith("sleepers.")]) == 3
    info = json.loads(d.cli("service", "inspect", "sleepers").stdout)[0]
    assert info["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["K=V"]
    assert d.cli("service", "scale", "sleepers=5").returncode == 0
    assert _running(d, "sleepers") == 5
    assert d.cli("service", "scale", "-d", "sleepers=1").returncode == 0
    _wait(lambda: _running(d, "sleepers") == 1)
    assert d.cli("service", "rm", "sleepers").returncode == 0
    _wait(lambda: not [n for n in d.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()
                       if n.startswith("sleepers.")], timeout=30)


def test_pending_task_says_why(cluster):
    d = cluster.daemon("m1")
    d.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{d.port}", check=True)
    r = d.cli("service", "create", "-d", "--name", "huge", "--reserve-memory", "100000g",
              "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    err = _wait(lambda: "insufficient" in d.cli("service", "ps", "--no-trunc", "huge").stdout)
    assert err
    r = d.cli("service", "create", "-d", "--name", "nowhere", "--constraint",
              "node.labels.zone==mars", "busybox", "sleep", "1000")
    assert r.returncode == 0
    _wait(lambda: "no suitable node" in d.cli("service", "ps", "--no-trunc", "nowhere").stdout)
    node = d.cli("node", "ls", "-q").stdout.split()[0]
    d.cli("node", "update", "--label-add", "zone=mars", node, check=True)
    _wait(lambda: _running(d, "nowhere") == 1)


def test_global_service_and_drain(cluster):
    d = cluster.daemon("m1")
    d.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{d.port}", check=True)
    d.cli("service", "create", "--name", "everywhere", "--mode", "global", "busybox",
          "sleep", "1000", check=True)
    assert _running(d, "everywhere") == 1
    node = d.cli("node", "ls", "-q").stdout.split()[0]
    d.cli("node", "update", "--availability", "drain", node, check=True)
    _wait(lambda: _running(d, "everywhere") == 0)
    d.cli("node", "update", "--availability", "active", node, check=True)
    _wait(lambda: _running(d, "everywhere") == 1)


def test_restarted_daemon_readopts_service_containers(cluster):
    d = cluster.daemon("m1")
    d.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{d.port}", check=True)
    d.cli("service", "create", "--name", "steady", "--replicas", "2", "busybox", "sleep",
          "1000", check=True)
    before = {c["Id"]: c["State"] for c in d.api("GET", "/containers/json")[1]}
    import signal

    d.stop(signal.SIGKILL)
    d.start()
    _wait(lambda: _running(d, "steady") == 2, timeout=40)
    time.sleep(2)
    after = {c["Id"]: c["State"] for c in d.api("GET", "/containers/json")[1]}
    assert set(after) == set(before)  # the same containers: re-adopted, not restarted


def test_docker_sdk_drives_the_cluster(cluster):
    docker = pytest.importorskip("docker")
    d = cluster.daemon("m1")
    client = docker.DockerClient(base_url=d.host, version="1.44", timeout=60)
    node_id = client.swarm.init(advertise_addr=f"127.0.0.1:{d.port}")
    assert node_id
    svc = client.services.create("busybox", ["sleep", "1000"], name="sdk-svc",
                                 mode=docker.types.ServiceMode("replicated", replicas=2))
    assert [s.name for s in client.services.list()] == ["sdk-svc"]
    _wait(lambda: _running(d, "sdk-svc") == 2)
    first = {t["ID"] for t in svc.tasks(filters={"desired-state": "running"})}
    svc.scale(3)  # sends the spec back as read with insertDefaults=true
    _wait(lambda: _running(d, "sdk-svc") == 3)
    now = {t["ID"] for t in svc.tasks(filters={"desired-state": "running"})}
    assert len(now) == 3 and first < now  # a scale adds a task and replaces none
    svc.remove()
    assert client.services.list() == []
    assert client.nodes.list()[0].attrs["Status"]["State"] == "ready"
    client.close()
