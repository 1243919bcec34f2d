"""The replicated orchestrator: every slot 1..replicas of a service holds one task.

Per service, from the watch cache (DESIGN §4, docs/scheduler.md):

- slots: tasks grouped by slot; the slot's *current* task is the one that
  occupies it (desired RUNNING or COMPLETE, tasks.py). Duplicates left by a
  race are shut down, keeping the one furthest along.
- node lost (DOWN or deleted): its unfinished tasks become ORPHANED, and a
  current one gets desired SHUTDOWN and a replacement in its slot at once.
  Node drained, or its labels (role, hostname) no longer match the task's
  placement constraints: the same without ORPHANED (the agent stops the
  task), as SwarmKit's constraint enforcer does. When a lost node comes
  back, its agent sees desired SHUTDOWN on those tasks and stops them: the
  slot keeps its replacement (no churn back).
- stopped by itself while desired RUNNING: the restart supervisor decides
  (restart.py): replace now, later (timer), or never (desired COMPLETE).
- scale up: new tasks in the lowest free slot numbers; scale down: desired
  SHUTDOWN on slots that do not run first, then on the nodes with the most
  copies of the service, highest slot first.
- spec changed (spec_version): the update supervisor (update.py) decides
  which slots to replace now, which old tasks of a start-first pair to shut
  down, and the service's UpdateStatus (written after the tasks, as an
  `Update` that loses to any concurrent change of the service).
- service deleted (or pending_delete): desired REMOVE on all its tasks; the
  reaper deletes them once stopped.

New tasks are written PENDING (no allocator work yet), for the scheduler.
Everything a tick decides is written in one `Store.batch`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from shoal.manager.orchestrator.loop import LoopConfig, Reconciler
from shoal.manager.orchestrator.plan import Context, Plan
from shoal.manager.orchestrator.restart import RestartSupervisor, Verdict
from shoal.manager.orchestrator.tasks import (
    COMPLETE,
    DRAIN,
    REMOVE,
    RUNNING,
    is_replicated,
    is_terminal,
    new_task,
    node_lost,
    occupies,
    outdated,
    task_matters,
)
from shoal.manager.orchestrator.update import Updater, split_slot
from shoal.manager.orchestrator.update_slots import stops_first
from shoal.manager.orchestrator.update_status import changed_service
from shoal.manager.scheduler.constraints import node_matches, parse_constraints
from shoal.manager.store import Action, Event, Op, Store, Update
from shoal.proto.shoal.v1.objects_pb2 import Node, Service, Task


@dataclass
class _Slot:
    number: int
    current: Any  # the cache's task occupying the slot
    replacement: Task | None = None  # created in this tick
    old: Any = None  # start-first: the outdated task running until `current` runs
    waiting: bool = False  # stop-first: `current` is stopping; the new task comes after

    def task(self) -> Any:
        return self.replacement if self.replacement is not None else self.current


class ReplicatedOrchestrator(Reconciler):
    """Keeps each replicated service's slots filled; leader only."""

    kinds = (Service, Task, Node)
    name = "replicated-orchestrator"

    def __init__(
        self,
        store: Store,
        *,
        restart: RestartSupervisor | None = None,
        updater: Updater | None = None,
        config: LoopConfig | None = None,
    ) -> None:
        super().__init__(store, config)
        self.restart = restart or RestartSupervisor()
        self.restart.on_due = self._restart_due
        self.updater = updater or Updater()
        self.updater.on_due = self._restart_due
        self._status: list[Op] = []  # service writes of this tick (UpdateStatus)
        self._dirty: set[str] = set()  # service ids
        self._updating: set[str] = set()  # services with outdated slots
        self._memo: dict[tuple[str, int, int], bool] = {}  # see tasks.outdated

    # Events.

    def resync(self) -> None:
        cache = self.store.cache
        for svc in cache.list(Service, copy=False):
            if is_replicated(svc):
                self._dirty.add(svc.id)
        for t in cache.list(Task, copy=False):
            if (
                t.slot
                and int(t.desired_state) < REMOVE
                and cache.get(Service, t.service_id, copy=False) is None
            ):
                self._dirty.add(t.service_id)

    def wants(self, event: Event) -> bool:
        if event.kind != "tasks":
            return True
        t: Any = event.obj
        return bool(t.slot) and task_matters(event, t, self._updating)

    def handle(self, event: Event) -> None:
        obj: Any = event.obj
        if event.kind == "tasks":
            self._task_event(event, obj)
        elif event.kind == "services":
            if event.action == Action.DELETE:
                self._dirty.add(obj.id)
                self.restart.forget_service(obj.id)
                self.updater.forget_service(obj.id)
            elif is_replicated(obj) or is_replicated(event.old):
                self._dirty.add(obj.id)
        elif event.kind == "nodes":
            self._node_event(event, obj)

    def _task_event(self, event: Event, t: Any) -> None:
        if not t.slot:
            return
        if event.action == Action.DELETE:
            self.restart.forget(t.id)
            if occupies(t):
                self._dirty.add(t.service_id)
            return
        if t.service_id in self._updating:
            self._dirty.add(t.service_id)
            return
        old: Any = event.old
        if int(t.desired_state) == RUNNING and is_terminal(t):
            if old is None or not is_terminal(old) or int(old.desired_state) != RUNNING:
                self._dirty.add(t.service_id)
        elif old is not None and int(old.desired_state) != int(t.desired_state) and occupies(old):
            self._dirty.add(t.service_id)  # left its slot: maybe not by our hand

    def _node_event(self, event: Event, node: Any) -> None:
        old: Any = event.old if event.action != Action.CREATE else None
        lost = event.action == Action.DELETE or node_lost(node)
        was_lost = old is not None and node_lost(old)
        drained = event.action != Action.DELETE and int(node.spec.availability) == DRAIN
        was_drained = old is not None and int(old.spec.availability) == DRAIN
        relabeled = old is not None and event.action != Action.DELETE and _attributes(
            old) != _attributes(node)
        if (lost and not was_lost) or (drained and not was_drained) or relabeled:
            for t in self.store.cache.tasks_by_node(node.id, copy=False):
                if t.slot:
                    self._dirty.add(t.service_id)

    def _restart_due(self, service_id: str) -> None:
        self._dirty.add(service_id)
        self.wake()

    def closed(self) -> None:
        self.restart.close()
        self.updater.close()

    # Ticks.

    def has_work(self) -> bool:
        return bool(self._dirty)

    async def tick(self) -> None:
        dirty, self._dirty = self._dirty, set()
        cache = self.store.cache
        ctx = Context(cache, asyncio.get_running_loop().time())
        plan = Plan()
        for sid in dirty:
            svc = cache.get(Service, sid, copy=False)
            if svc is None or svc.pending_delete:
                self._remove_tasks(sid, plan, ctx)
            elif is_replicated(svc):
                self.reconcile(svc, plan, ctx)
        ops = plan.ops()
        result = await self.write(ops)
        self._dirty.update(plan.done(ops, result))
        await self._write_status()

    async def _write_status(self) -> None:
        """Write the tick's UpdateStatus changes; a service changed meanwhile is decided again."""
        ops, self._status = self._status, []
        result = await self.write(ops)
        for i in result.errors:
            self._dirty.add(ops[i].obj.id)  # type: ignore[union-attr]

    def _remove_tasks(self, service_id: str, plan: Plan, ctx: Context) -> None:
        self._updating.discard(service_id)
        self.updater.forget_service(service_id)
        self._memo = {k: v for k, v in self._memo.items() if k[0] != service_id}
        self.restart.forget_service(service_id)
        for t in ctx.cache.tasks_by_service(service_id, copy=False):
            if not t.slot:
                continue
            if t.node_id and not is_terminal(t) and node_lost(ctx.node(t.node_id)):
                plan.orphan(t, f"node {t.node_id} is down")
            plan.remove(t)

    def reconcile(self, svc: Any, plan: Plan, ctx: Context) -> None:
        """Plan the writes that bring SVC's slots to its spec."""
        by_slot: dict[int, list[Any]] = defaultdict(list)
        for t in ctx.cache.tasks_by_service(svc.id, copy=False):
            if t.node_id and not is_terminal(t) and node_lost(ctx.node(t.node_id)):
                plan.orphan(t, f"node {t.node_id} is down")
            if t.slot:
                by_slot[t.slot].append(t)
            elif occupies(t):
                plan.shutdown(t)  # a slotless task has no place in a replicated service

        live: dict[int, _Slot] = {}
        for number, tasks in by_slot.items():
            occupying = [t for t in tasks if occupies(t)]
            if not occupying:
                continue
            current, old, extra = split_slot(occupying, lambda t: outdated(t, svc, self._memo))
            for t in extra:
                plan.shutdown(t)
            if old is not None and old.node_id and self._node_gone(ctx.node(old.node_id)):
                plan.shutdown(old)
                old = None
            slot = live[number] = _Slot(number, current, old=old)
            self._check_current(svc, slot, plan, ctx)

        self._waiting(svc, live, ctx)
        want = int(svc.spec.replicated.replicas)
        if len(live) < want:
            free = (n for n in itertools.count(1) if n not in live)
            for number in itertools.islice(free, want - len(live)):
                live[number] = _Slot(number, None, self._create(svc, number, plan, ctx))
        elif len(live) > want:
            for slot in self._victims(list(live.values()), len(live) - want):
                if slot.replacement is not None:
                    plan.discard(slot.replacement)
                if slot.current is not None:
                    plan.shutdown(slot.current)
                    self.restart.forget(slot.current.id)
                if slot.old is not None:
                    plan.shutdown(slot.old)
                self.updater.release(svc.id, slot.number)
                del live[slot.number]
        self._update(svc, live, plan, ctx)

    def _waiting(self, svc: Any, live: dict[int, _Slot], ctx: Context) -> None:
        """Keep the slots of a stop-first update whose old task still stops."""
        for number, task_id in self.updater.stopping(svc.id).items():
            old = ctx.cache.get(Task, task_id, copy=False)
            if number in live or old is None or not stops_first(old, ctx.node(old.node_id)):
                self.updater.release(svc.id, number)  # stopped: the slot is filled below
            else:
                live[number] = _Slot(number, old, waiting=True)

    def _check_current(self, svc: Any, slot: _Slot, plan: Plan, ctx: Context) -> None:
        cur = slot.current
        if int(cur.desired_state) != RUNNING:
            return  # finished (desired COMPLETE): stays until the spec changes
        if not is_terminal(cur) and cur.node_id:
            node = ctx.node(cur.node_id)
            if self._node_gone(node) or not _fits(cur, node):
                plan.shutdown(cur)
                slot.replacement = self._create(svc, slot.number, plan, ctx)
            return
        if not is_terminal(cur):
            return
        verdict = self.restart.decide(cur, ctx.now)
        if verdict is Verdict.NOW:
            plan.shutdown(cur)
            slot.replacement = self._create(
                svc, slot.number, plan, ctx, lambda: self.restart.restarted(cur, ctx.now)
            )
        elif verdict is Verdict.NEVER:
            plan.finish(cur)

    @staticmethod
    def _node_gone(node: Any) -> bool:
        """Return whether a task on NODE must move: the node is lost or drained."""
        return node_lost(node) or int(node.spec.availability) == DRAIN

    def _create(self, svc: Any, number: int, plan: Plan, ctx: Context, done: Any = None) -> Task:
        task = new_task(svc, slot=number, cluster=ctx.cluster, networks=ctx.networks(svc))
        return plan.create(task, done)

    @staticmethod
    def _victims(slots: list[_Slot], n: int) -> list[_Slot]:
        """Return the N slots to remove: idle ones, then from the most crowded nodes."""

        def idle(s: _Slot) -> bool:
            if s.waiting:
                return True
            t = s.current
            done = is_terminal(t) or int(t.desired_state) == COMPLETE
            return s.replacement is not None or not t.node_id or done

        nth: dict[int, int] = {}
        copies: dict[str, int] = defaultdict(int)
        busy = [s for s in slots if not idle(s)]
        busy.sort(key=lambda s: (int(s.current.status.state) != RUNNING, s.number))
        for s in busy:
            copies[s.current.node_id] += 1
            nth[s.number] = copies[s.current.node_id]
        order = sorted(slots, key=lambda s: (idle(s), nth.get(s.number, 0), s.number))
        return order[-n:]

    def _update(self, svc: Any, live: dict[int, _Slot], plan: Plan, ctx: Context) -> None:
        decision = self.updater.decide(
            svc,
            list(live.values()),
            ctx.cache.tasks_by_service(svc.id, copy=False),
            lambda t: outdated(t, svc, self._memo),
        )
        if decision.active:
            self._updating.add(svc.id)
        else:
            self._updating.discard(svc.id)
        for t in decision.retire:
            plan.shutdown(t)
        for slot in decision.replace:
            cur = slot.current
            self.restart.forget(cur.id)
            if decision.start_first:
                slot.old = cur
            else:
                plan.shutdown(cur)
                if stops_first(cur, ctx.node(cur.node_id)):
                    self.updater.hold(svc.id, slot.number, cur.id)
                    slot.waiting = True
                    continue
            slot.replacement = self._create(svc, slot.number, plan, ctx)
        if decision.status is not None:
            self._status.append(
                Update(changed_service(svc, decision.status, self.updater.clock(), ctx.cache))
            )
        if decision.wake_at is not None:
            self.updater.arm(svc.id, decision.wake_at)


def _attributes(node: Any) -> tuple[Any, ...]:
    """Return what placement constraints can test on NODE (labels, role, hostname)."""
    return (dict(node.spec.annotations.labels), dict(node.description.engine.labels),
            int(node.role), node.description.hostname)


def _fits(task: Any, node: Any) -> bool:
    """Return whether NODE still satisfies TASK's placement constraints.

    Constraints that do not parse (refused at service creation anyway) move nothing.
    """
    exprs = task.spec.placement.constraints
    if not exprs:
        return True
    constraints = parse_constraints(list(exprs), strict=False)
    return constraints is None or node_matches(constraints, node)
