"""Partitions on a 3-host lab (1 manager, 2 workers): issue 7, part 4.

A worker's cable is pulled (`cut()`), its processes keep running. As in
Swarm, the manager cannot tell a cut-off node from a dead one: once its
heartbeats are missed the node is DOWN and its replicated tasks are replaced
elsewhere, while the worker, alone, keeps its containers running (an agent
never stops a task because it lost its manager). When the cable is plugged
back (`restore()`), the agent opens a new session, sees its old tasks desired
SHUTDOWN and stops them: exactly the desired replicas remain, the
replacements keep their slots. A cut shorter than the node's TTL changes
nothing at all.
"""

from __future__ import annotations

import time

from e2e.failures import (
    containers,
    create_service,
    node_state,
    remove_service,
    running_tasks,
    set_heartbeat,
    wait_converged,
    wait_for,
)
from shoal.cli.lab import Lab

LAB = {"nodes": 3, "managers": 1, "registry": False}
REPLICAS = 4


def test_cut_worker_keeps_running_and_reconciles_to_exact_replicas(lab: Lab) -> None:
    m, w1, w2 = lab.hosts
    set_heartbeat(m, "1s")
    time.sleep(6)  # agents learn the new period at their next 5 s heartbeat
    create_service(m, "web", REPLICAS)
    wait_converged(lab, "web", REPLICAS)
    on_w1 = sorted(containers(w1, "web"))
    assert on_w1

    w1.cut()
    wait_for("cut worker DOWN", lambda: node_state(m, w1) == "down", 30)
    wait_converged(lab, "web", REPLICAS, down=(w1,))
    assert not {t["ID"] for t in running_tasks(m, "web")} & set(on_w1)
    time.sleep(2)
    assert sorted(containers(w1, "web")) == on_w1  # alone, it keeps its containers

    replaced = {t["ID"] for t in running_tasks(m, "web")}
    w1.restore()
    wait_for("worker READY after reconnecting", lambda: node_state(m, w1) == "ready", 60)
    wait_converged(lab, "web", REPLICAS)
    assert {t["ID"] for t in running_tasks(m, "web")} == replaced  # no churn back
    assert containers(w1, "web") == []
    remove_service(m, "web")


def test_a_cut_shorter_than_the_ttl_changes_nothing(lab: Lab) -> None:
    m, w1, w2 = lab.hosts
    create_service(m, "calm", REPLICAS)
    wait_converged(lab, "calm", REPLICAS)
    before = {t["ID"] for t in running_tasks(m, "calm")}
    w2.cut()
    time.sleep(0.5)  # the TTL at a 1 s period is 2 s
    w2.restore()
    time.sleep(3)
    assert node_state(m, w2) == "ready"
    wait_converged(lab, "calm", REPLICAS)
    assert {t["ID"] for t in running_tasks(m, "calm")} == before
    remove_service(m, "calm")
