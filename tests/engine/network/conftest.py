"""Fixtures for network tests: a whole "host" in a network namespace, and a service in it.

Integration tests never touch the machine's own namespace: the service runs
against a fresh namespace ("host") whose FORWARD policy is set to DROP, as
dockerd leaves it, so the rules are tested against a hostile default. Every
fixture checks on the way out that no link, rule or namespace is left.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.engine.config import EngineConfig
from shoal.engine.network import nsutil
from shoal.engine.network.config import NetworkConfig
from shoal.engine.network.netlink import Netlink
from shoal.engine.network.service import NetworkService


def lo_up() -> None:
    with Netlink() as nl:
        nl.set_link(nl.index("lo"), up=True)


def sh(ns: str | None, cmd: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run shell CMD in namespace NS."""
    res = nsutil.run_in(ns, lambda: subprocess.run(cmd, shell=True, capture_output=True,
                                                   text=True, timeout=20))
    if check and res.returncode != 0:
        raise AssertionError(f"{cmd}: {res.stdout}{res.stderr}")
    return res


def ping(ns: str, ip: str) -> bool:
    """Tell whether one ping from NS to IP is answered within a second."""
    return sh(ns, f"busybox ping -c1 -W1 {ip}").returncode == 0


def root_netns_files() -> set[str]:
    """Return the nsfs mounts of the machine (to check no test leaks one)."""
    with open("/proc/self/mountinfo") as f:
        return {ln.split()[4] for ln in f if " nsfs " in ln}


@pytest.fixture
def make_ns(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Give a factory of fresh namespaces (lo up), all removed at the end."""
    made: list[Path] = []

    def make(name: str) -> str:
        p = tmp_path / "ns" / name
        nsutil.create(p, setup=lo_up)
        made.append(p)
        return str(p)

    yield make
    for p in reversed(made):
        nsutil.remove(p)


@pytest.fixture
def host_ns(make_ns: Callable[[str], str]) -> str:
    """Return a namespace standing for a host with dockerd's FORWARD DROP policy."""
    ns = make_ns("host")
    sh(ns, "iptables -P FORWARD DROP", check=True)
    return ns


def host_counts(ns: str) -> dict[str, Any]:
    links = sorted(lk.name for lk in Netlink(ns).links())
    rules = sh(ns, "iptables-save").stdout.count("--comment shoal")
    return {"links": links, "rules": rules}


def make_service(tmp: Path, netns: str, **kw: Any) -> NetworkService:
    data, run = tmp / "data", tmp / "run"
    cfg = NetworkConfig(state_root=data / "network", netns_root=run / "netns", netns=netns,
                        dns_forward=False, **kw)
    return NetworkService(EngineConfig(data_root=data, run_root=run), cfg)


@pytest.fixture
def svc(tmp_path: Path, host_ns: str) -> Iterator[NetworkService]:
    """Give a started NetworkService programming HOST_NS; tear it down and count leftovers."""
    before = host_counts(host_ns)
    mounts = root_netns_files()
    s = make_service(tmp_path / "h", host_ns)
    s.start()
    yield s
    s.teardown()
    assert host_counts(host_ns) == before, "links or iptables rules left behind"
    made_by_tests = str(tmp_path / "ns")  # make_ns removes these after this fixture
    # only this test's: other daemons on the machine mount namespaces of their own meanwhile
    left = {m for m in root_netns_files() - mounts
            if m.startswith(str(tmp_path)) and not m.startswith(made_by_tests)}
    assert not left, "a network namespace was left mounted"
    netns_dir = tmp_path / "h" / "run" / "netns"
    assert not netns_dir.exists() or not os.listdir(netns_dir)
    bridges_dir = tmp_path / "h" / "run" / "bridge-netns"
    assert not bridges_dir.exists() or not os.listdir(bridges_dir)
