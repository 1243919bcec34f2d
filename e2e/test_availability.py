"""Node availability and constraints on a 3-host lab (1 manager, 2 workers): issue 7, part 7.

- `node update --availability drain` moves a node's replicated tasks off it;
  `pause` keeps its tasks but places nothing new there; `active` opens it
  again without taking tasks back (no churn), while new tasks prefer it.
- `node update --label-rm` on a node whose label a service's constraint
  needs moves that service's tasks off it (as Swarm's constraint enforcer);
  `--label-add` back moves nothing back.
"""

from __future__ import annotations

from e2e.failures import (
    containers,
    create_service,
    hosts_of,
    remove_service,
    running_tasks,
    scale,
    wait_converged,
    wait_for,
)
from shoal.cli.lab import Lab

LAB = {"nodes": 3, "managers": 1, "registry": False}


def availability(lab: Lab, host: str, value: str) -> None:
    lab.managers[0].cli("node", "update", "--availability", value, host, check=True)


def test_drain_pause_and_active(lab: Lab) -> None:
    m, w1, w2 = lab.hosts
    create_service(m, "web", 6)
    wait_converged(lab, "web", 6)
    assert hosts_of(lab, m, "web")[w1.name] > 0

    availability(lab, w1.name, "drain")
    wait_converged(lab, "web", 6)
    wait_for("no web task on the drained node", lambda: hosts_of(lab, m, "web")[w1.name] == 0)
    assert containers(w1, "web") == []
    shown = m.cli("node", "ls", check=True).stdout
    assert "Drain" in shown

    availability(lab, w1.name, "active")
    before = {t["ID"] for t in running_tasks(m, "web")}
    availability(lab, w2.name, "pause")
    scale(m, "web", 9)
    wait_converged(lab, "web", 9)
    spread = hosts_of(lab, m, "web")
    assert before <= {t["ID"] for t in running_tasks(m, "web")}  # nothing moved back
    # the three new tasks went to the reopened node, none to the paused one, whose
    # tasks keep running
    assert spread == {m.name: 3, w1.name: 3, w2.name: 3}, spread
    assert len(containers(w2, "web")) == 3
    availability(lab, w2.name, "active")
    remove_service(m, "web")


def test_label_removed_moves_constrained_tasks_and_adding_it_back_moves_nothing(
    lab: Lab,
) -> None:
    m, w1, w2 = lab.hosts
    for h in (w1, w2):
        m.cli("node", "update", "--label-add", "disk=ssd", h.name, check=True)
    create_service(m, "db", 4, constraints=["node.labels.disk==ssd"])
    wait_converged(lab, "db", 4)
    spread = hosts_of(lab, m, "db")
    assert spread[m.name] == 0 and spread[w1.name] == 2 and spread[w2.name] == 2

    m.cli("node", "update", "--label-rm", "disk", w1.name, check=True)
    wait_for("db tasks off the relabelled node", lambda: hosts_of(lab, m, "db")[w1.name] == 0)
    wait_converged(lab, "db", 4)
    assert hosts_of(lab, m, "db")[w2.name] == 4
    assert containers(w1, "db") == []
    moved = {t["ID"] for t in running_tasks(m, "db")}

    m.cli("node", "update", "--label-add", "disk=ssd", w1.name, check=True)
    wait_converged(lab, "db", 4)
    assert {t["ID"] for t in running_tasks(m, "db")} == moved  # no churn back
    scale(m, "db", 6)
    wait_converged(lab, "db", 6)
    assert hosts_of(lab, m, "db")[w1.name] == 2  # the new ones go to the emptier node
    remove_service(m, "db")
