"""Smoke test of the e2e lab: a 3-host cluster whose hosts reach each other's containers."""

from __future__ import annotations

import json

from shoal.cli.lab import Lab

LAB = {"nodes": 3, "managers": 1, "registry": True}


def test_three_hosts_ready_reachable_and_sharing_a_registry(lab: Lab) -> None:
    nodes = lab.nodes()
    assert sorted(n["Description"]["Hostname"] for n in nodes) == [h.name for h in lab.hosts]
    assert all(n["Status"]["State"] == "ready" for n in nodes)
    assert [h.role for h in lab.hosts] == ["manager", "worker", "worker"]

    m, w1, w2 = lab.hosts
    w1.cli("run", "-d", "--name", "c1", "busybox", "sleep", "600", check=True)
    (info,) = json.loads(w1.cli("inspect", "c1", check=True).stdout)
    ip = info["NetworkSettings"]["IPAddress"]
    r = w2.cli("run", "--rm", "busybox", "ping", "-c", "1", "-W", "5", ip)
    assert "1 packets received" in r.stdout, r.stdout + r.stderr

    ref = f"{lab.registry_addr}/smoke/busybox:1"
    m.cli("tag", "busybox", ref, check=True)
    m.cli("push", ref, check=True)
    w2.cli("pull", ref, check=True)
    w1.cli("rm", "-f", "c1", check=True)
