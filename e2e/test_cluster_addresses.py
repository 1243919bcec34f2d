"""Two hosts of a `shoal lab`: one service's tasks get distinct addresses from its network.

The manager's allocator gives each task of an overlay network an address
from the network's subnet and the service a VIP there (docs/network.md,
"Multi-host networks: the manager side"); `service inspect` shows the VIP
and `/tasks` the task addresses, whichever host runs them.
"""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any

LAB = {"nodes": 2, "managers": 1, "registry": False}  # the `lab` fixture (e2e/conftest.py)


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


def test_tasks_on_two_hosts_get_distinct_addresses_and_the_service_a_vip(lab: Any) -> None:
    m = lab.managers[0]
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
