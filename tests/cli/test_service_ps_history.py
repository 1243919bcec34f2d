"""`service ps` rows: the slot's history under its current task, with why each ended."""

from __future__ import annotations

from typing import Any

from shoal.cli.commands.swarm_tables import error_of, task_rows

NOW = 1_800_000_000.0


def _ts(ago: float) -> str:
    import datetime

    t = datetime.datetime.fromtimestamp(NOW - ago, tz=datetime.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _task(tid: str, slot: int, created_ago: float, desired: str, state: str, err: str = "",
          message: str = "", node: str = "n1") -> dict[str, Any]:
    return {"ID": tid, "ServiceID": "s1", "Slot": slot, "NodeID": node,
            "CreatedAt": _ts(created_ago), "DesiredState": desired,
            "Spec": {"ContainerSpec": {"Image": "busybox:latest@sha256:" + "a" * 64}},
            "Status": {"State": state, "Err": err, "Message": message,
                       "Timestamp": _ts(created_ago - 1)}}


def test_history_rows_follow_their_slot_newest_first_with_reasons() -> None:
    tasks = [
        _task("a" * 25, 1, 30, "shutdown", "failed", "task: non-zero exit (1)"),
        _task("b" * 25, 1, 20, "shutdown", "failed",
              "task: non-zero exit (137): unhealthy container"),
        _task("c" * 25, 1, 10, "running", "running"),
        _task("d" * 25, 2, 40, "shutdown", "orphaned", message="node n2 is down", node="n2"),
        _task("e" * 25, 2, 5, "running", "starting", message="starting"),
    ]
    rows = task_rows(tasks, {"s1": "web"}, {"n1": "host1", "n2": "host2"}, now=NOW)
    assert [r["Name"] for r in rows] == ["web.1", " \\_ web.1", " \\_ web.1", "web.2",
                                         " \\_ web.2"]
    assert [r["ID"] for r in rows] == ["c" * 12, "b" * 12, "a" * 12, "e" * 12, "d" * 12]
    assert rows[0]["CurrentState"] == "Running 9 seconds ago" and rows[0]["Error"] == ""
    assert rows[1]["DesiredState"] == "Shutdown"
    assert rows[1]["CurrentState"] == "Failed 19 seconds ago"
    assert rows[1]["Error"] == '"task: non-zero exit (137): un…"'
    assert rows[2]["Error"] == '"task: non-zero exit (1)"'
    assert rows[3]["CurrentState"].startswith("Starting")
    assert rows[4]["Error"] == '"node n2 is down"' and rows[4]["Node"] == "host2"
    full = task_rows(tasks, {"s1": "web"}, {}, trunc=False, now=NOW)
    assert full[1]["Error"] == '"task: non-zero exit (137): unhealthy container"'
    assert full[1]["ID"] == "b" * 25 and full[1]["Image"].endswith("a" * 64)


def test_error_of_prefers_err_and_explains_orphans_only() -> None:
    assert error_of({"State": "failed", "Err": "x", "Message": "started"}) == "x"
    assert error_of({"State": "orphaned", "Message": "node n is down"}) == "node n is down"
    assert error_of({"State": "complete", "Message": "finished"}) == ""
