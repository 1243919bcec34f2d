"""The update supervisor's decisions, on fake slots and a fake clock (no store, no timers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shoal.manager.orchestrator.update import Updater, split_slot
from shoal.manager.orchestrator.update_policy import Policy
from shoal.manager.orchestrator.update_status import StatusChange, changed_service
from shoal.proto.shoal.v1.objects_pb2 import Service, Task, UpdateStatus
from shoal.proto.shoal.v1.types_pb2 import TaskState, UpdateConfig

US = UpdateStatus
UC = UpdateConfig
RUNNING = TaskState.RUNNING
PENDING = TaskState.PENDING
FAILED = TaskState.FAILED
T0 = 1_000.0


@dataclass
class Slot:
    number: int
    current: Any
    replacement: Any = None
    old: Any = None
    waiting: bool = False

    def task(self) -> Any:
        return self.replacement if self.replacement is not None else self.current


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def service(version: int = 2, **update: Any) -> Service:
    svc = Service(id="svc")
    svc.spec.replicated.replicas = 4
    svc.spec.task.container.image = f"busybox:{version}"
    svc.spec_version.index = version
    svc.previous_spec.task.container.image = "busybox:1"
    svc.previous_spec_version.index = 1
    monitor = update.pop("monitor", 10.0)
    delay = update.pop("delay", 0.0)
    svc.spec.update.CopyFrom(UC(**update))
    svc.spec.update.monitor.FromNanoseconds(int(monitor * 1e9))
    svc.spec.update.delay.FromNanoseconds(int(delay * 1e9))
    return svc


def task(tid: str, slot: int, version: int, state: int = RUNNING, at: float = T0 - 100) -> Task:
    t = Task(id=tid, service_id="svc", slot=slot, desired_state=RUNNING)
    t.status.state = state  # type: ignore[assignment]
    t.status.timestamp.FromNanoseconds(int(at * 1e9))
    t.spec_version.index = version
    return t


def slots(n: int, version: int = 1) -> list[Slot]:
    return [Slot(i, task(f"old{i}", i, version)) for i in range(1, n + 1)]


def set_status(svc: Service, state: int, started: float = T0) -> None:
    svc.update_status.state = state  # type: ignore[assignment]
    svc.update_status.started_at.FromNanoseconds(int(started * 1e9))


class Rollout:
    """Drives Updater.decide like an orchestrator, applying its decisions to fake slots."""

    def __init__(self, svc: Service, units: list[Slot]) -> None:
        self.svc, self.units, self.clock = svc, units, Clock()
        self.updater = Updater(clock=self.clock)
        self.history: list[Task] = []
        self.made = 0

    def outdated(self, t: Any) -> bool:
        return int(t.spec_version.index) != int(self.svc.spec_version.index)

    def decide(self) -> Any:
        tasks = [u.current for u in self.units] + self.history
        tasks += [u.old for u in self.units if u.old is not None]
        d = self.updater.decide(self.svc, self.units, tasks, self.outdated)
        for u in self.units:
            if u.old is not None and u.old in d.retire:
                self.history.append(u.old)
                u.old = None
        for u in d.replace:
            self.made += 1
            new = task(f"new{self.made}", u.number, int(self.svc.spec_version.index), PENDING)
            if d.start_first:
                u.old = u.current
            else:
                self.history.append(u.current)
            u.current = new
        if d.status is not None:
            self.svc.CopyFrom(changed_service(self.svc, d.status, self.clock(), _NoServices()))
        return d

    def run_all(self, state: int = RUNNING) -> None:
        """Let every new task reach STATE (now)."""
        for u in self.units:
            if not self.outdated(u.current) and u.current.status.state < RUNNING:
                u.current.status.state = state
                u.current.status.timestamp.FromNanoseconds(int(self.clock() * 1e9))

    def on_new_spec(self) -> int:
        return sum(not self.outdated(u.current) for u in self.units)


class _NoServices:
    def list(self, kind: Any, copy: bool = True) -> list[Any]:
        return []


def test_batches_of_parallelism_slots_and_status_updating() -> None:
    r = Rollout(service(parallelism=2), slots(5))
    d = r.decide()
    assert [u.number for u in d.replace] == [1, 2]
    assert d.active and d.status == StatusChange(US.UPDATING, "update in progress", started=True)
    assert r.svc.update_status.state == US.UPDATING
    assert r.decide().replace == []  # two in flight
    r.units[0].current.status.state = RUNNING
    assert [u.number for u in r.decide().replace] == [3]  # a sliding window without delay
    r.run_all()
    assert [u.number for u in r.decide().replace] == [4, 5]
    assert r.on_new_spec() == 5


def test_idle_slots_go_first_and_parallelism_zero_is_all() -> None:
    units = slots(4)
    units[2].current.status.state = FAILED
    r = Rollout(service(parallelism=0), units)
    assert [u.number for u in r.decide().replace] == [3, 1, 2, 4]


def test_delay_between_batches_uses_the_clock() -> None:
    r = Rollout(service(parallelism=2, delay=30.0), slots(4))
    assert len(r.decide().replace) == 2
    r.clock.now = T0 + 5
    r.units[0].current.status.state = RUNNING
    assert r.decide().replace == []  # the batch is not done: no slot starts
    r.clock.now = T0 + 7
    r.run_all()
    d = r.decide()
    assert d.replace == [] and d.wake_at == T0 + 7 + 30  # the batch's last task ran at +7
    r.clock.now = T0 + 36
    assert r.decide().replace == []
    r.clock.now = T0 + 37
    assert [u.number for u in r.decide().replace] == [3, 4]


def test_start_first_keeps_the_old_task_until_the_new_one_runs() -> None:
    r = Rollout(service(parallelism=1, order=UC.START_FIRST), slots(2))
    d = r.decide()
    assert d.start_first and [u.number for u in d.replace] == [1]
    first = r.units[0]
    assert first.old is not None and first.old.id == "old1"  # two tasks in the slot
    assert r.decide().replace == []  # in flight
    first.current.status.state = RUNNING
    d = r.decide()
    assert [t.id for t in d.retire] == ["old1"]
    assert first.old is None
    assert [u.number for u in d.replace] == [2]


def test_a_pair_with_a_running_new_task_still_counts_until_the_old_one_goes() -> None:
    svc = service(parallelism=1, order=UC.START_FIRST)
    set_status(svc, US.UPDATING)
    units = [Slot(1, task("n1", 1, 2), old=task("o1", 1, 1)), Slot(2, task("o2", 2, 1))]
    d = Updater(clock=Clock()).decide(svc, units, [], lambda t: t.spec_version.index != 2)
    # the retirement is written in this tick: the next slot waits for it
    assert [t.id for t in d.retire] == ["o1"] and d.replace == [units[1]]


def test_split_slot_tells_a_start_first_pair_from_duplicates() -> None:
    old, new, dup = task("o", 1, 1), task("n", 1, 2, PENDING), task("d", 1, 2, PENDING, at=T0)
    dup.meta.created_at.FromNanoseconds(int(T0 * 1e9))
    current, kept, extra = split_slot([old, new, dup], lambda t: t.spec_version.index != 2)
    assert (current.id, kept.id, [t.id for t in extra]) == ("d", "o", ["n"])
    old.status.state = FAILED  # a dead old task is not kept beside the new one
    current, kept, extra = split_slot([old, new], lambda t: t.spec_version.index != 2)
    assert (current.id, kept, [t.id for t in extra]) == ("n", None, ["o"])


def _fail_first_new(r: Rollout, at: float) -> Task:
    r.clock.now = at
    t = r.units[0].current
    t.status.state = FAILED
    t.status.timestamp.FromNanoseconds(int(at * 1e9))
    return t


def test_failure_within_monitor_pauses() -> None:
    r = Rollout(service(parallelism=1, monitor=10.0), slots(3))
    r.decide()
    r.clock.now = T0 + 1
    r.run_all()
    r.decide()  # slot 1 seen running at +1: slot 2 starts
    failed = _fail_first_new(r, T0 + 5)
    d = r.decide()
    assert d.status is not None and d.status.state == US.PAUSED
    msg = f"update paused due to failure or early termination of task {failed.id}"
    assert r.svc.update_status.message == msg
    assert d.replace == [] and not d.active
    r.run_all()
    assert r.decide().replace == []  # paused stays paused


def test_failure_after_the_monitor_window_is_a_plain_restart() -> None:
    r = Rollout(service(parallelism=1, monitor=2.0), slots(2))
    r.decide()
    r.run_all()
    r.decide()
    _fail_first_new(r, T0 + 60)
    d = r.decide()
    assert d.status is None or d.status.state != US.PAUSED


def test_failure_action_continue_keeps_rolling() -> None:
    r = Rollout(service(parallelism=1, failure_action=UC.CONTINUE), slots(3))
    r.decide()
    _fail_first_new(r, T0 + 1)
    d = r.decide()
    assert d.status is None and [u.number for u in d.replace] == [2]


def test_failure_action_rollback_swaps_to_the_previous_spec() -> None:
    r = Rollout(service(parallelism=1, failure_action=UC.ROLLBACK), slots(3))
    r.decide()
    failed = _fail_first_new(r, T0 + 1)
    d = r.decide()
    assert d.status is not None and d.status.rollback and d.active
    assert r.svc.update_status.state == US.ROLLBACK_STARTED
    assert failed.id in r.svc.update_status.message
    assert r.svc.spec_version.index == 1 and r.svc.spec.task.container.image == "busybox:1"
    assert r.svc.previous_spec_version.index == 2
    # now the failed slot is outdated and rolls back with the rollback config (defaults)
    assert Policy.of(r.svc, rollback=True) == Policy()
    d = r.decide()
    assert [u.number for u in d.replace] == [1] and not d.start_first


def test_a_failing_rollback_pauses() -> None:
    svc = service(parallelism=1, failure_action=UC.ROLLBACK)
    set_status(svc, US.ROLLBACK_STARTED)
    r = Rollout(svc, slots(2, version=1))
    r.svc.spec_version.index = 3  # rolling to version 3 (tasks run 1)
    r.svc.spec.rollback.CopyFrom(UC(parallelism=1, failure_action=UC.ROLLBACK))
    r.decide()
    _fail_first_new(r, T0 + 1)
    d = r.decide()
    assert d.status is not None and d.status.state == US.ROLLBACK_PAUSED and not d.status.rollback
    assert r.svc.update_status.message.startswith("rollback paused due to failure")


def test_max_failure_ratio_is_over_the_slots() -> None:
    r = Rollout(service(parallelism=0, max_failure_ratio=0.5), slots(4))
    r.decide()
    for i, u in enumerate(r.units[:2]):
        u.current.status.state = FAILED
        u.current.status.timestamp.FromNanoseconds(int((T0 + 1 + i) * 1e9))
    assert r.decide().status is None  # 2 of 4 is not more than half
    r.units[2].current.status.state = FAILED
    r.units[2].current.status.timestamp.FromNanoseconds(int((T0 + 3) * 1e9))
    d = r.decide()
    assert d.status is not None and d.status.state == US.PAUSED


def test_completes_after_the_last_batch_was_monitored() -> None:
    r = Rollout(service(parallelism=2, monitor=10.0), slots(2))
    r.decide()
    r.clock.now = T0 + 2
    r.run_all()
    d = r.decide()
    assert d.status is None and d.wake_at == T0 + 12 and d.active
    r.clock.now = T0 + 12
    d = r.decide()
    assert d.status == StatusChange(US.COMPLETED, "update completed", completed=True)
    assert r.svc.update_status.HasField("completed_at")
    assert r.svc.update_status.started_at.seconds == int(T0)
    assert not r.decide().active and r.decide().status is None


def test_a_rollback_completes_as_rollback_completed() -> None:
    svc = service()
    set_status(svc, US.ROLLBACK_STARTED)
    r = Rollout(svc, slots(2, version=2))  # nothing outdated: done at once
    d = r.decide()
    assert d.status is not None and d.status.state == US.ROLLBACK_COMPLETED
    assert r.svc.update_status.message == "rollback completed"


def test_a_change_that_outdates_nothing_is_no_update() -> None:
    r = Rollout(service(), slots(3, version=2))
    d = r.decide()
    assert d.status is None and d.replace == [] and not d.active


def test_old_failures_before_the_update_do_not_count() -> None:
    svc = service(parallelism=1)
    r = Rollout(svc, slots(2))
    r.history.append(task("gone", 1, 2, FAILED, at=T0 - 50))  # version 2 failed long ago
    d = r.decide()
    assert d.status is not None and d.status.state == US.UPDATING and len(d.replace) == 1


def test_a_new_leader_resumes_from_the_store() -> None:
    svc = service(parallelism=1)
    set_status(svc, US.UPDATING, started=T0 - 30)
    units = [Slot(1, task("n1", 1, 2, at=T0 - 20)), Slot(2, task("o2", 2, 1))]
    d = Updater(clock=Clock()).decide(svc, units, [], lambda t: t.spec_version.index != 2)
    assert d.status is None and d.replace == [units[1]]  # slot 1 is not redone
    svc.update_status.state = US.PAUSED
    assert Updater(clock=Clock()).decide(svc, units, [], lambda t: True).replace == []


def test_changed_service_rollback_swaps_versions_and_stamps() -> None:
    svc = service()
    out = changed_service(
        svc, StatusChange(US.ROLLBACK_STARTED, "x", started=True, rollback=True), T0, _NoServices()
    )
    assert out.spec_version.index == 1 and out.previous_spec_version.index == 2
    assert out.update_status.started_at.seconds == int(T0)
    assert not out.update_status.HasField("completed_at")


def test_a_stop_first_slot_waiting_for_its_old_task_is_in_flight() -> None:
    svc = service(parallelism=2)
    set_status(svc, US.UPDATING)
    stopping = task("o1", 1, 1)
    stopping.desired_state = TaskState.SHUTDOWN
    units = [Slot(1, stopping, waiting=True), Slot(2, task("o2", 2, 1)), Slot(3, task("o3", 3, 1))]
    d = Updater(clock=Clock()).decide(svc, units, [], lambda t: t.spec_version.index != 2)
    assert [u.number for u in d.replace] == [2] and d.active  # one slot of two is taken
    units = [Slot(1, stopping, waiting=True)]
    d = Updater(clock=Clock()).decide(svc, units, [], lambda t: t.spec_version.index != 2)
    assert d.status is None and d.replace == []  # not completed while a slot waits
