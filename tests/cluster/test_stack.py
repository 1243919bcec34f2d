"""`shoal stack deploy` of examples/web-stack.yml on a one-host cluster, end to end.

The stack network is a cluster network (allocated by the manager, backed on
this host by an overlay), `web` resolves on it to the service's VIP, and the
ingress port answers on the host's loopback, spread over the web tasks (the
backends come with the manager's NetworkStates, so the spread is waited for).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.daemon import links_named

from .test_single_host import _wait

pytestmark = pytest.mark.root
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "web-stack.yml"




def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _replicas(d, stack: str) -> dict[str, str]:
    out = d.cli("stack", "services", stack, "--format", "{{.Name}} {{.Replicas}}").stdout
    return dict(line.split()[:2] for line in out.splitlines() if line.strip())


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as r:
        return r.read().decode().strip()


def _containers(d, service: str) -> list[str]:
    out = d.cli("ps", "-q", "--no-trunc", "--filter",
                f"label=com.docker.swarm.service.name={service}").stdout
    return out.split()


def _nat_rules_for(port: int) -> list[str]:
    out = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if f"--dport {port} " in ln]


def test_stack_deploy_web_and_client(cluster, tmp_path: Path) -> None:
    d = cluster.daemon("m1")
    d.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{d.port}", check=True)
    port = _free_port()
    stack_file = tmp_path / "web-stack.yml"
    shutil.copy(EXAMPLE, stack_file)
    (tmp_path / ".env").write_text(f"WEB_PORT={port}\n")

    r = d.cli("stack", "deploy", "-c", str(stack_file), "demo")
    assert r.returncode == 0, r.stderr
    assert "Creating network demo_default" in r.stdout
    _wait(lambda: _replicas(d, "demo") == {"demo_web": "3/3", "demo_client": "1/1"})

    # the stack network is a cluster network, listed once, with its allocated subnet
    st, listed = d.api("GET", "/networks")
    assert st == 200
    mine = [n for n in listed if n["Name"] == "demo_default"]
    assert len(mine) == 1 and mine[0]["Scope"] == "swarm" and mine[0]["Driver"] == "overlay"
    assert mine[0]["IPAM"]["Config"][0]["Subnet"].startswith("10.")
    assert len(mine[0]["Containers"]) == 4  # this host's tasks on it

    # ingress: the published port answers on loopback, spread over the web tasks
    first = _wait(lambda: _try_get(port))
    assert first.startswith("hello from ")
    _wait(lambda: len({_get(port) for _ in range(20)}) > 1, timeout=15)

    # the client reaches the web service by its name on the stack network
    client = _containers(d, "demo_client")
    assert len(client) == 1
    r = d.cli("exec", client[0], "wget", "-q", "-O", "-", "http://web/")
    assert r.returncode == 0 and r.stdout.startswith("hello from "), r.stderr

    # the network cannot go while services use it
    r = d.cli("network", "rm", "demo_default")
    assert r.returncode != 0
    assert "in use by services demo_client, demo_web" in r.stderr

    # redeploy after an edit: only the client changes
    web_tasks = set(d.cli("service", "ps", "-q", "demo_web").stdout.split())
    stack_file.write_text(stack_file.read_text().replace("sleep 2; done", "sleep 3; done"))
    r = d.cli("stack", "deploy", "-c", str(stack_file), "demo")
    assert r.returncode == 0, r.stderr
    assert "Updating service demo_client" in r.stdout
    assert "Updating service demo_web" not in r.stdout
    _wait(lambda: client[0] not in _containers(d, "demo_client")
          and len(_containers(d, "demo_client")) == 1)
    assert set(d.cli("service", "ps", "-q", "demo_web").stdout.split()) == web_tasks

    # fewer tasks, fewer backends: the stopping ones get no new connections
    d.cli("service", "scale", "-d", "demo_web=1", check=True)
    _wait(lambda: _replicas(d, "demo") == {"demo_web": "1/1", "demo_client": "1/1"})
    _wait(lambda: len({_get(port) for _ in range(6)}) == 1, timeout=10)

    # shoald down: the port still answers (kernel rules); back up: the stack is re-adopted
    d.stop()
    assert _get(port).startswith("hello from ")
    d.start()
    _wait(lambda: _replicas(d, "demo") == {"demo_web": "1/1", "demo_client": "1/1"})
    assert _get(port).startswith("hello from ")

    # rm then deploy at once: the new stack gets the port and a fresh network
    assert d.cli("stack", "rm", "demo").returncode == 0
    r = d.cli("stack", "deploy", "-c", str(stack_file), "demo")
    assert r.returncode == 0, r.stderr
    _wait(lambda: _replicas(d, "demo") == {"demo_web": "3/3", "demo_client": "1/1"})
    _wait(lambda: _try_get(port))

    # stack rm: services, network, bridge and rules go
    r = d.cli("stack", "rm", "demo")
    assert r.returncode == 0, r.stderr
    assert "Removing network demo_default" in r.stdout
    _wait(lambda: not d.cli("ps", "-aq").stdout.split())
    _wait(lambda: not [n for n in d.api("GET", "/networks")[1] if n["Name"] == "demo_default"])
    _wait(lambda: links_named((f"s{d.tag}-", f"v{d.tag}")) == [])
    assert _nat_rules_for(port) == []


def _try_get(port: int) -> str | None:
    try:
        return _get(port)
    except OSError:
        return None


def test_leaving_the_cluster_removes_tasks_and_ingress_ports(cluster) -> None:
    d = cluster.daemon("m1")
    d.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{d.port}", check=True)
    port = _free_port()
    r = d.cli("service", "create", "--name", "w", "-p", f"{port}:80", "busybox", "sh", "-c",
              "echo hi > /tmp/index.html && exec httpd -f -p 80 -h /tmp")
    assert r.returncode == 0, r.stderr
    assert _wait(lambda: _try_get(port), timeout=20) == "hi"  # no network: the default bridge
    assert _nat_rules_for(port)
    d.cli("cluster", "leave", "--force", check=True)
    assert d.cli("ps", "-aq").stdout.split() == []  # as dockerd: the tasks' containers go
    assert _nat_rules_for(port) == []
    with socket.socket() as s:
        s.bind(("0.0.0.0", port))  # no longer held by shoald
