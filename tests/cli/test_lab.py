"""`shoal lab` for real: hosts in network namespaces, a cluster over the underlay, and down.

Each test makes its own lab (a random name, a lab root in its temp dir) and
checks that `lab down` leaves none of its processes, namespaces, links,
firewall rules, mounts or cgroups behind.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.cli.lab import Lab, LabExists
from shoal.cli.lab.leftovers import leftovers
from shoal.cli.lab.model import load_lab

pytestmark = pytest.mark.root
SHOAL = str(Path(sys.executable).parent / "shoal")


@pytest.fixture
def lab_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Give the test a private lab root; remove whatever lab it left there."""
    root = tmp_path / "labs"
    monkeypatch.setenv("SHOAL_LAB_ROOT", str(root))
    yield root
    for lab in Lab.all(root):
        state = lab.state
        lab.down()
        assert leftovers(state) == []


def shoal(*args: str, check: bool = True, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([SHOAL, *args], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **(env or {})})
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def name() -> str:
    return "t" + secrets.token_hex(2)


def ready_nodes(host: str) -> list[list[str]]:
    rows = [ln.split() for ln in shoal("--host", host, "node", "ls").stdout.splitlines()[1:]]
    return [r for r in rows if "Ready" in r]


def test_three_hosts_cluster_reach_ping_and_down(lab_root: Path, busybox_tar: Path) -> None:
    n = name()
    out = shoal("lab", "up", "--nodes", "3", n).stdout
    assert f"{n}-2   worker " in out and "shoal --host" in out
    state = load_lab(n, lab_root)
    assert len(ready_nodes(f"{n}-1")) == 3
    hostnames = {r[1] if r[1] != "*" else r[2] for r in ready_nodes(f"{n}-1")}
    assert hostnames == {f"{n}-1", f"{n}-2", f"{n}-3"}

    # --host and SHOAL_HOST reach host 2's own daemon
    assert f"Name: {n}-2" in shoal("--host", f"{n}-2", "info").stdout
    assert f"Name: {n}-2" in shoal("info", env={"SHOAL_HOST": f"{n}-2"}).stdout
    assert shoal("lab", "env", f"{n}-2").stdout == \
        f"export SHOAL_HOST=unix://{state.hosts[1].socket}\n"
    assert f"{n}   3       1          running" in shoal("lab", "ls").stdout

    # a container on host 2 answers pings from host 3 and from a container on host 3
    for h in (f"{n}-2", f"{n}-3"):
        shoal("--host", h, "import", str(busybox_tar), "busybox:latest")
    shoal("--host", f"{n}-2", "run", "-d", "--name", "c2", "busybox", "sleep", "600")
    ip = shoal("--host", f"{n}-2", "inspect", "-f", "{{.NetworkSettings.IPAddress}}",
               "c2").stdout.strip()
    assert ip.startswith(state.hosts[1].bridge_subnet.rpartition(".")[0])
    lab = Lab.open(n)
    r = lab.host(f"{n}-3").exec("busybox", "ping", "-c", "1", "-W", "5", ip)
    assert r.returncode == 0, r.stdout + r.stderr
    r = shoal("--host", f"{n}-3", "run", "--rm", "busybox", "ping", "-c", "1", "-W", "5", ip)
    assert "1 packets received" in r.stdout

    assert leftovers(state) != []  # the check sees a running lab
    assert shoal("lab", "down", n).stdout == f"{n}\n"
    assert leftovers(state) == []
    assert not Path(state.dir).exists()
    assert shoal("lab", "down", n).returncode == 0  # twice is fine
    assert n not in shoal("lab", "ls").stdout


def test_five_hosts_three_managers_registry_and_failures(lab_root: Path,
                                                         busybox_tar: Path) -> None:
    n = name()
    lab = Lab.up(n, nodes=5, managers=3, registry=True, root=lab_root)
    state = lab.state
    assert len(ready_nodes(f"{n}-3")) == 5  # every manager answers
    nodes = lab.nodes()
    assert len(nodes) == 5 and all(x["Status"]["State"] == "ready" for x in nodes)
    managers = sorted(x["Description"]["Hostname"] for x in nodes
                      if x.get("ManagerStatus"))
    assert managers == [f"{n}-1", f"{n}-2", f"{n}-3"]
    if _joined_managers_run_etcd(lab):  # once manager join grows the embedded etcd
        assert len(lab.etcd_members()) == 3
    else:
        assert len(lab.etcd_members()) >= 1

    # the registry on the underlay: push from one host, pull on another
    reg = lab.registry_addr
    w1, w2 = lab.host(f"{n}-4"), lab.host(f"{n}-5")
    w1.cli("import", str(busybox_tar), "busybox:latest", check=True)
    w1.cli("tag", "busybox", f"{reg}/bb:1", check=True)
    w1.cli("push", f"{reg}/bb:1", check=True)
    w2.cli("pull", f"{reg}/bb:1", check=True)

    # power loss of a worker: every process gone, then a boot brings it back Ready
    w2.cli("run", "-d", f"{reg}/bb:1", "sleep", "600", check=True)
    assert len(w2.pids()) >= 3  # shoald, the shim, the container
    w2.kill()
    assert w2.pids() == [] and not w2.running()
    assert lab.status() == "degraded"
    w2.start()
    assert w2.running() and lab.status() == "running"
    Lab.open(n).nodes()  # the managers still answer
    from shoal.cli.lab.swarm import wait_ready

    wait_ready(state.hosts[0], 5, 60)

    # a cut cable isolates a host; restoring it reconnects it
    w1.cut()
    assert w1.exec("busybox", "ping", "-c", "1", "-W", "1", state.hosts[0].addr).returncode != 0
    w1.restore()
    assert w1.exec("busybox", "ping", "-c", "1", "-W", "5", state.hosts[0].addr).returncode == 0

    # a lab whose processes all died (a crash) still goes down completely
    for h in lab.hosts:
        h.kill()
    assert lab.down() == []
    assert leftovers(state) == []


def _joined_managers_run_etcd(lab: Lab) -> bool:
    import json

    st = lab.state.hosts[1].data_root / "swarm" / "state.json"
    return bool(json.loads(st.read_text()).get("etcd_embedded"))


def test_bad_requests_make_nothing(lab_root: Path) -> None:
    r = shoal("lab", "up", "Bad-Name", check=False)
    assert r.returncode == 1 and "invalid lab name 'Bad-Name'" in r.stderr
    r = shoal("lab", "up", "--nodes", "2", "--managers", "3", "tbad", check=False)
    assert r.returncode == 1 and "--managers 3" in r.stderr
    assert not (lab_root / "tbad").exists()
    n = name()
    lab = Lab.up(n, nodes=1, root=lab_root)
    with pytest.raises(LabExists):
        Lab.up(n, nodes=1, root=lab_root)
    assert lab.status() == "running"
    r = shoal("lab", "kill", f"{n}-7", check=False)
    assert r.returncode == 1 and f"has no host '{n}-7'" in r.stderr


def test_failed_up_removes_what_it_made_and_nothing_else(lab_root: Path) -> None:
    from shoal.cli.lab import LabSystemError
    from shoal.cli.lab.model import bridge_name
    from shoal.cli.lab.underlay import delete_link, sh

    n = name()
    with pytest.raises(LabSystemError, match=f"{n}-1: shoald did not answer"):
        Lab.up(n, nodes=2, root=lab_root, timeout=0)
    assert not (lab_root / n).exists()
    assert leftovers(Lab.plan(n, 2, 1, False, lab_root, [])) == []

    sh("ip", "link", "add", bridge_name(n), "type", "bridge")  # someone else's link
    try:
        with pytest.raises(LabExists, match=f"slab-{n} exist"):
            Lab.up(n, nodes=1, root=lab_root)
        assert (Path("/sys/class/net") / bridge_name(n)).exists()
        assert not (lab_root / n).exists()
    finally:
        delete_link(bridge_name(n))
