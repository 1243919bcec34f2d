"""Manager and etcd failures on a 5-host lab (3 managers, 2 workers): issue 7, part 5.

- The leader's host loses power: another manager leads, `service create`
  and `service scale` keep working through the managers left, the dead
  host's node goes DOWN and its tasks run elsewhere; no node that is alive
  is ever marked DOWN on the way (liveness is judged by the leader only,
  from what every manager publishes). The host comes back: converged, with
  exactly the desired replicas.
- One etcd member (the etcd process alone, on a manager host that does not
  lead) is killed: nothing a user sees changes.
"""

from __future__ import annotations

import threading
import time

import pytest

from e2e.failures import (
    create_service,
    etcd_pid,
    leader,
    manager,
    node_state,
    nodes,
    remove_service,
    running_tasks,
    scale,
    set_heartbeat,
    wait_converged,
    wait_for,
)
from shoal.cli.lab import Lab
from shoal.cli.lab.labhost import LabHost

LAB = {"nodes": 5, "managers": 3, "registry": False}


class DownWatch:
    """Samples `node ls` in the background and records every node seen DOWN."""

    def __init__(self, lab: Lab, exclude: tuple[LabHost, ...]) -> None:
        self.lab, self.exclude = lab, exclude
        self.seen_down: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for n in nodes(manager(self.lab, self.exclude)):
                    if (n.get("Status") or {}).get("State") == "down":
                        self.seen_down.add((n.get("Description") or {}).get("Hostname", "?"))
            except Exception:  # a manager going away mid-call: sample again
                pass
            time.sleep(0.1)

    def __enter__(self) -> DownWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_leader_host_dies_a_new_leader_serves_and_the_host_returns(lab: Lab) -> None:
    first = lab.managers[0]
    set_heartbeat(first, "1s")
    time.sleep(6)
    create_service(first, "web", 6)
    wait_converged(lab, "web", 6)
    old = wait_for("a leader", lambda: leader(lab))

    with DownWatch(lab, (old,)) as watch:
        old.kill()
        new = wait_for("a new leader", lambda: (
            (h := leader(lab, exclude=(old,))) is not None and h.name != old.name and h), 30)
        m = manager(lab, (old,))
        create_service(m, "late", 2)
        scale(m, "web", 8)
        wait_for("dead leader DOWN", lambda: node_state(m, old) == "down", 60)
        wait_converged(lab, "web", 8, down=(old,))
        wait_converged(lab, "late", 2, down=(old,))
    assert watch.seen_down <= {old.name}, f"live nodes marked down: {watch.seen_down}"
    assert new.name != old.name

    old.start()
    wait_for("old leader READY", lambda: node_state(m, old) == "ready", 90)
    wait_converged(lab, "web", 8)
    wait_converged(lab, "late", 2)
    assert len(running_tasks(m, "web")) == 8
    remove_service(m, "late")


def test_killing_one_etcd_member_changes_nothing_visible(lab: Lab) -> None:
    members = lab.etcd_members()
    if len(members) < 3:
        pytest.skip(f"the managers share {len(members)} etcd member(s): one per manager "
                    "is not there yet")
    lead = wait_for("a leader", lambda: leader(lab))
    victim = next(h for h in lab.managers if h.name != lead.name and h.running())
    pid = etcd_pid(victim)
    assert pid is not None, f"{victim.name} runs no etcd"
    m = manager(lab)
    before = {(n["Description"]["Hostname"], n["Status"]["State"]) for n in nodes(m)}
    import os
    import signal
    os.kill(pid, signal.SIGKILL)
    time.sleep(3)
    for h in lab.managers:  # every manager still answers, the same
        assert {(n["Description"]["Hostname"], n["Status"]["State"])
                for n in nodes(h)} == before
    assert leader(lab) is not None and leader(lab).name == lead.name  # type: ignore[union-attr]
    create_service(victim, "after-etcd", 3)  # through the host whose member died
    scale(m, "web", 5)
    wait_converged(lab, "after-etcd", 3)
    wait_converged(lab, "web", 5)
    remove_service(m, "after-etcd")
    remove_service(m, "web")
