"""Dead hosts on a 3-host lab (1 manager, 2 workers): issue 7, part 3.

A worker loses power (`kill()`: cable cut, every process SIGKILLed). Its node
goes DOWN, its replicated tasks run again on the other hosts, its global task
is not moved. When it boots again (`start()`, same data root) its agent
re-adopts its task state, the manager has it shut its stale tasks down, and
the service is converged with exactly its replicas: nothing lost, nothing
duplicated, and nothing moved back (no churn). Timings are measured by
bench/failover.py, never asserted here.
"""

from __future__ import annotations

import time

from e2e.failures import (
    api,
    check_converged,
    containers,
    create_service,
    node_of,
    node_state,
    remove_service,
    running_tasks,
    set_heartbeat,
    tasks,
    wait_converged,
    wait_for,
)
from shoal.cli.lab import Lab

LAB = {"nodes": 3, "managers": 1, "registry": False}
REPLICAS = 6


def test_heartbeat_flag_is_stored_and_shown(lab: Lab) -> None:
    m = lab.managers[0]
    set_heartbeat(m, "1s")
    spec = api(m, "GET", "/swarm")["Spec"]
    assert spec["Dispatcher"]["HeartbeatPeriod"] == 1_000_000_000
    out = m.cli("cluster", "update", "--dispatcher-heartbeat", "-1s")
    assert out.returncode != 0
    time.sleep(6)  # agents heartbeating at the old 5 s period learn the new one


def test_dead_worker_tasks_run_elsewhere_and_return_without_duplicates(lab: Lab) -> None:
    m, w1, w2 = lab.hosts
    create_service(m, "web", REPLICAS)
    create_service(m, "mon", None)  # global: one per node, never moved
    wait_converged(lab, "web", REPLICAS)
    wait_for("mon on every node", lambda: len(running_tasks(m, "mon")) == 3)
    on_w1 = set(containers(w1, "web"))
    assert on_w1, "the spread put no web task on the worker"

    w1.kill()
    wait_for("dead worker DOWN", lambda: node_state(m, w1) == "down", 30)
    wait_converged(lab, "web", REPLICAS, down=(w1,))
    replaced = {t["ID"] for t in running_tasks(m, "web")}
    assert not replaced & on_w1
    w1_id = node_of(m, w1)["ID"]
    stale = [t for t in tasks(m, "web") if t["ID"] in on_w1]
    assert all(t["DesiredState"] == "shutdown" for t in stale), stale
    assert all(t["Status"]["State"] == "orphaned" for t in stale), stale
    mon = running_tasks(m, "mon")
    assert len(mon) == 2 and w1_id not in {t["NodeID"] for t in mon}  # not moved elsewhere

    w1.start()
    wait_for("worker READY again", lambda: node_state(m, w1) == "ready", 60)
    wait_converged(lab, "web", REPLICAS)
    assert {t["ID"] for t in running_tasks(m, "web")} == replaced  # no churn back
    assert containers(w1, "web") == []  # stale tasks shut down, none restarted
    wait_for("mon back on the worker", lambda: len(running_tasks(m, "mon")) == 3, 60)
    assert check_converged(lab, "web", REPLICAS) == ""

    # new tasks prefer the emptiest node: the returned worker
    create_service(m, "fresh", 1)
    wait_converged(lab, "fresh", 1)
    (fresh,) = running_tasks(m, "fresh")
    assert fresh["NodeID"] == w1_id
    for name in ("web", "mon", "fresh"):
        remove_service(m, name)


def test_a_worker_killed_twice_in_a_row_still_converges(lab: Lab) -> None:
    m, w1, w2 = lab.hosts
    create_service(m, "again", 4)
    wait_converged(lab, "again", 4)
    for _ in range(2):
        w2.kill()
        wait_for("DOWN", lambda: node_state(m, w2) == "down", 30)
        wait_converged(lab, "again", 4, down=(w2,))
        w2.start()
        wait_for("READY", lambda: node_state(m, w2) == "ready", 60)
        wait_converged(lab, "again", 4)
    remove_service(m, "again")
