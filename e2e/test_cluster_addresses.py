"""Two hosts of a `shoal lab`: one service's tasks get distinct addresses from its network.

The manager's allocator gives each task of an overlay network an address
from the network's subnet and the service a VIP there (docs/network.md,
"Multi-host networks: the manager side"); `service inspect` shows the VIP
and `/tasks` the task addresses, whichever host runs them.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a busybox rootfs tarball (scripts/busybox_rootfs.py; no registry needed)."""
    path = Path(__file__).resolve().parent.parent / "scripts" / "busybox_rootfs.py"
    spec = importlib.util.spec_from_file_location("busybox_rootfs", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path_factory.mktemp("busybox") / "busybox-rootfs.tar"
    mod.write_rootfs(str(out))
    return out


@pytest.fixture
def two_hosts(tmp_path: Path, busybox_tar: Path) -> Iterator[Any]:
    """Return a lab of two hosts (one manager) with busybox imported; remove it after."""
    from shoal.cli.lab import Lab

    lab = Lab.up("a" + uuid.uuid4().hex[:5], nodes=2, root=tmp_path / "labs")
    try:
        for h in lab.hosts:
            h.cli("import", str(busybox_tar), "busybox:latest", check=True)
        yield lab
    finally:
        assert lab.down() == [], "the lab left something behind"


def _tasks(host: Any, service: str) -> list[dict[str, Any]]:
    from shoal.cli.client import Client

    c = Client(host.host)
    try:
        filters = json.dumps({"service": [service], "desired-state": ["running"]})
        return c.request("GET", "/tasks", params={"filters": filters}).json()  # type: ignore[no-any-return]
    finally:
        c.close()


def _until(check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.5)


def test_tasks_on_two_hosts_get_distinct_addresses_and_the_service_a_vip(two_hosts: Any) -> None:
    m = two_hosts.managers[0]
    m.cli("network", "create", "-d", "overlay", "app", check=True)
    m.cli("service", "create", "-d", "--name", "web", "--network", "app", "--replicas", "2",
          "--replicas-max-per-node", "1", "busybox", "sleep", "1000", check=True)
    (net,) = json.loads(m.cli("network", "inspect", "app", check=True).stdout)
    subnet = ipaddress.ip_network(net["IPAM"]["Config"][0]["Subnet"])

    def running() -> list[dict[str, Any]]:
        ts = [t for t in _tasks(m, "web") if t["Status"]["State"] == "running"]
        return ts if len(ts) == 2 else []

    tasks = _until(running)
    assert len({t["NodeID"] for t in tasks}) == 2  # one per host
    addrs = [a for t in tasks for att in t["NetworksAttachments"]
             if att["Network"]["ID"] == net["Id"] for a in att["Addresses"]]
    assert len(addrs) == 2 and len(set(addrs)) == 2
    assert all(ipaddress.ip_interface(a).network == subnet for a in addrs)
    (svc,) = json.loads(m.cli("service", "inspect", "web", check=True).stdout)
    vips = [v["Addr"] for v in svc["Endpoint"]["VirtualIPs"] if v["NetworkID"] == net["Id"]]
    assert len(vips) == 1 and ipaddress.ip_interface(vips[0]).network == subnet
    assert vips[0] not in addrs
