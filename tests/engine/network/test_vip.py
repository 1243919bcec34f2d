"""Service records and VIPs: names and per-sandbox load balancing on an overlay (one host).

Three backend containers each answer their own name on port 80; clients
connect to the service's VIP and are spread over them by the nftables table
in their own namespace (vip.py). The svc fixture checks that nothing is left.
"""

from __future__ import annotations

import socket

import pytest

from shoal.engine.network import nsutil, vip
from shoal.engine.network.errors import InvalidNetworkConfig
from tests.engine.network.conftest import sh
from tests.engine.network.tcpserve import serving
from tests.engine.network.test_bridge import dns_query

pytestmark = pytest.mark.root
VIP = "10.232.0.2"
BACKENDS = ["10.232.0.5", "10.232.0.6", "10.232.0.7"]
CLIENT, LATE = "c" * 64, "d" * 64


def test_render_is_one_transaction_with_even_odds() -> None:
    text = vip.render({VIP: list(reversed(BACKENDS)), "10.232.0.3": []})
    assert text.startswith("table ip shoal_vip\ndelete table ip shoal_vip\n")
    assert (f"ip daddr {VIP} dnat to numgen random mod 3 map "
            "{ 0 : 10.232.0.5, 1 : 10.232.0.6, 2 : 10.232.0.7 }") in text
    assert "ip daddr { 10.232.0.3 } reject" in text
    assert vip.render({}) == "table ip shoal_vip\ndelete table ip shoal_vip\n"
    assert f"ip daddr {VIP} dnat to 10.232.0.5\n" in vip.render({VIP: ["10.232.0.5"]})




def ask(ns: str, ip: str = VIP) -> str:
    def call() -> str:
        with socket.create_connection((ip, 80), timeout=3) as c:
            return c.recv(64).decode()

    return nsutil.run_in(ns, call)


def refused(ns: str) -> bool:
    try:
        ask(ns)
    except ConnectionRefusedError:
        return True
    return False


def test_vip_spreads_over_three_backends_and_follows_the_records(svc) -> None:
    n = svc.create_overlay("ov", vni=4343, subnet="10.232.0.0/24", network_id="e" * 64)
    backends = []
    for i, ip in enumerate(BACKENDS):
        cid = f"{i}" * 64
        backends.append(svc.sandbox_create(cid))
        svc.connect("ov", cid, f"web.{i + 1}", ip=ip)
    client = svc.sandbox_create(CLIENT)
    svc.connect("ov", CLIENT, "client", ip="10.232.0.9")
    with pytest.raises(InvalidNetworkConfig, match="web"):
        svc.set_service_records("ov", [{"name": "web", "vip": "10.232.0.300"}])
    svc.set_service_records("ov", [
        {"name": "web", "vip": VIP, "task_ips": BACKENDS, "aliases": ["www"]},
        {"name": "rr", "vip": "", "task_ips": BACKENDS[:2]},
    ])
    assert svc.service_records(n.id)[1]["name"] == "web"

    # names: the VIP for the service and its aliases, every task for tasks.NAME and dnsrr
    assert dns_query(client, "web") == (0, [VIP])
    assert dns_query(client, "www") == (0, [VIP])
    assert dns_query(client, "tasks.web") == (0, BACKENDS)
    assert dns_query(client, "rr") == (0, BACKENDS[:2])
    assert dns_query(client, "web.2") == (0, [BACKENDS[1]])  # containers keep their names
    assert svc.sandbox_vips(CLIENT) == {VIP: BACKENDS}

    with serving(backends, BACKENDS, lambda ip, _peer: ip):
        # each new connection goes to one of the three, all of them used
        seen = {ask(client) for _ in range(40)}
        assert seen == set(BACKENDS)
        # an open connection keeps its backend while the records change (conntrack)
        opened = nsutil.run_in(client, lambda: socket.create_connection((VIP, 80), 3))
        with opened:
            first = opened.recv(64).decode()
            keep = [first]
            svc.set_service_records("ov", [{"name": "web", "vip": VIP, "task_ips": keep}])
            assert {ask(client) for _ in range(10)} == {first}
        # a sandbox connected later gets the table at once
        late = svc.sandbox_create(LATE)
        svc.connect("ov", LATE, "late", ip="10.232.0.10")
        assert ask(late) == first
        assert "numgen" not in sh(late, "nft list table ip shoal_vip").stdout

        svc.set_service_records("ov", [{"name": "web", "vip": VIP, "task_ips": BACKENDS}])
        assert "numgen random mod 3" in sh(late, "nft list table ip shoal_vip").stdout
        # no task: refused at once, not left unanswered
        svc.set_service_records("ov", [{"name": "web", "vip": VIP, "task_ips": []}])
        assert refused(client) and refused(late)
        assert dns_query(client, "tasks.web")[1] == []

        # disconnecting takes the table away; no records, no table anywhere
        svc.disconnect("ov", LATE)
        assert sh(late, "nft list tables").stdout.count("shoal_vip") == 0
        svc.set_service_records("ov", [])
        assert "shoal_vip" not in sh(client, "nft list tables").stdout
        assert dns_query(client, "web")[0] == 3  # NXDOMAIN
    for cid in [CLIENT, LATE, *[f"{i}" * 64 for i in range(3)]]:
        svc.sandbox_remove(cid)
    svc.reaper.drain()
    svc.remove("ov")
