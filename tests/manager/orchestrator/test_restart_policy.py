"""Restart policies over a slot's life, with the clock given to every call.

Each replacement is a new task in the same slot (as the orchestrator makes
it); the supervisor must allow exactly max_attempts restarts (Docker's
meaning: restarts, not runs), honour the window and the delay, and count per
slot and spec version.
"""

from __future__ import annotations

import itertools

from shoal.manager.orchestrator import RestartSupervisor, Verdict
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import RestartPolicy, TaskState

_ids = itertools.count()
S = TaskState


def policy(condition: int, delay: float = 0.0, max_attempts: int = 0,
           window: float = 0.0) -> RestartPolicy:
    p = RestartPolicy(condition=condition, max_attempts=max_attempts)  # type: ignore[arg-type]
    p.delay.FromNanoseconds(int(delay * 1e9))
    if window:
        p.window.FromNanoseconds(int(window * 1e9))
    return p


def dead(p: RestartPolicy | None, state: int = S.FAILED, slot: int = 1, version: int = 1,
         service: str = "s") -> Task:
    t = Task(id=f"t{next(_ids)}", service_id=service, slot=slot, desired_state=S.RUNNING)
    t.status.state = state  # type: ignore[assignment]
    t.spec_version.index = version
    if p is not None:
        t.spec.restart.CopyFrom(p)
    return t


def run_slot(r: RestartSupervisor, p: RestartPolicy, times: list[float]) -> int:
    """Let the slot's task fail at each of TIMES; return how many tasks ran in all."""
    tasks = 1
    for now in times:
        t = dead(p)
        verdict = r.decide(t, now=now)
        assert verdict is not Verdict.LATER  # no delay in these policies
        if verdict is Verdict.NEVER:
            break
        r.restarted(t, now=now)
        tasks += 1
    return tasks


async def test_on_failure_max_attempts_2_makes_exactly_three_tasks() -> None:
    r = RestartSupervisor()
    assert run_slot(r, policy(RestartPolicy.ON_FAILURE, max_attempts=2),
                    [1.0, 2.0, 3.0, 4.0, 5.0]) == 3
    # the slot stays done, however long after
    assert r.decide(dead(policy(RestartPolicy.ON_FAILURE, max_attempts=2)), 1e6) is Verdict.NEVER


async def test_unlimited_attempts_and_condition_none() -> None:
    r = RestartSupervisor()
    assert run_slot(r, policy(RestartPolicy.ANY), [float(i) for i in range(50)]) == 51
    assert run_slot(RestartSupervisor(), policy(RestartPolicy.NONE), [1.0]) == 1
    for state in (S.FAILED, S.COMPLETE, S.REJECTED):
        assert r.decide(dead(policy(RestartPolicy.NONE), state), 0) is Verdict.NEVER


async def test_on_failure_restarts_failures_and_rejections_not_clean_exits() -> None:
    r = RestartSupervisor()
    p = policy(RestartPolicy.ON_FAILURE)
    assert r.decide(dead(p, S.FAILED), 0) is Verdict.NOW
    assert r.decide(dead(p, S.REJECTED), 0) is Verdict.NOW
    assert r.decide(dead(p, S.COMPLETE), 0) is Verdict.NEVER


async def test_window_counts_only_recent_restarts() -> None:
    r = RestartSupervisor()
    p = policy(RestartPolicy.ANY, max_attempts=2, window=10)
    for now in (0.0, 1.0):
        t = dead(p)
        assert r.decide(t, now=now) is Verdict.NOW
        r.restarted(t, now=now)
    assert r.decide(dead(p), now=5.0) is Verdict.NEVER  # two restarts in the last 10 s
    t = dead(p)
    assert r.decide(t, now=10.5) is Verdict.NOW  # the one at 0 left the window
    r.restarted(t, now=10.5)
    assert r.decide(dead(p), now=10.8) is Verdict.NEVER  # 1.0 and 10.5 are in it
    assert r.decide(dead(p), now=21.0) is Verdict.NOW


async def test_delay_counts_from_when_the_failure_was_first_seen() -> None:
    r = RestartSupervisor()
    t = dead(policy(RestartPolicy.ANY, delay=3))
    assert r.decide(t, now=100.0) is Verdict.LATER
    assert r.pending(t.id)
    assert r.decide(t, now=102.9) is Verdict.LATER
    assert r.decide(t, now=103.0) is Verdict.NOW
    r.restarted(t, now=103.0)
    assert not r.pending(t.id)
    r.close()


async def test_counts_are_per_slot_and_per_spec_version() -> None:
    r = RestartSupervisor()
    p = policy(RestartPolicy.ANY, max_attempts=1)
    t1 = dead(p, slot=1)
    assert r.decide(t1, 0) is Verdict.NOW
    r.restarted(t1, 0)
    assert r.decide(dead(p, slot=1), 1) is Verdict.NEVER
    assert r.decide(dead(p, slot=2), 1) is Verdict.NOW  # another slot has its own count
    assert r.decide(dead(p, slot=1, service="other"), 1) is Verdict.NOW
    assert r.decide(dead(p, slot=1, version=2), 1) is Verdict.NOW  # a new spec starts afresh
    r.forget_service("s")
    assert r.decide(dead(p, slot=1), 2) is Verdict.NOW
