"""The global orchestrator: one task of each global service on every eligible node.

A node may *keep* a task of the service while it is known, not DOWN, not
drained, and matches the service's constraints and platforms; it may *get*
a new one only if it is also ACTIVE (a paused node keeps what it runs and gets
nothing new). Tasks are created with their node_id set and status PENDING;
the scheduler checks that they fit the node and assigns them (or explains
why not). A node that goes DOWN or is deleted has its unfinished tasks
ORPHANED and shut down; they are not replaced elsewhere, and the node gets a
new task when it is eligible again. Restarts go through the restart
supervisor, on the same node; spec changes through the update supervisor
(update.py), paced over all the nodes (a paused node keeps its old task).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from shoal.manager.orchestrator.loop import LoopConfig, Reconciler
from shoal.manager.orchestrator.plan import Context, Plan
from shoal.manager.orchestrator.restart import RestartSupervisor, Verdict
from shoal.manager.orchestrator.tasks import (
    ACTIVE,
    DRAIN,
    REMOVE,
    RUNNING,
    is_global,
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
from shoal.manager.scheduler.constraints import (
    Constraint,
    node_matches,
    parse_constraints,
    platform_matches,
)
from shoal.manager.store import Action, Event, Op, Store, Update
from shoal.proto.shoal.v1.objects_pb2 import Node, Service, Task


@dataclass
class _NodeSlot:
    node_id: str
    current: Any
    replacement: Task | None = None
    old: Any = None  # start-first: the outdated task running until `current` runs
    waiting: bool = False  # stop-first: `current` is stopping; the new task comes after

    def task(self) -> Any:
        return self.replacement if self.replacement is not None else self.current


class GlobalOrchestrator(Reconciler):
    """Keeps one task of each global service per eligible node; leader only."""

    kinds = (Service, Task, Node)
    name = "global-orchestrator"

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
        self._services: set[str] = set()  # every node of these
        self._nodes: set[str] = set()  # every global service on these
        self._updating: set[str] = set()
        self._memo: dict[tuple[str, int, int], bool] = {}  # see tasks.outdated

    # Events.

    def resync(self) -> None:
        cache = self.store.cache
        for svc in cache.list(Service, copy=False):
            if is_global(svc):
                self._services.add(svc.id)
        for t in cache.list(Task, copy=False):
            if t.slot or not t.service_id or int(t.desired_state) >= REMOVE:
                continue
            if cache.get(Service, t.service_id, copy=False) is None:
                self._services.add(t.service_id)

    def wants(self, event: Event) -> bool:
        obj: Any = event.obj
        if event.kind == "tasks":
            return (
                not obj.slot and bool(obj.service_id) and task_matters(event, obj, self._updating)
            )
        if event.kind == "nodes" and event.action == Action.UPDATE:
            old: Any = event.old
            # only what decides eligibility
            return not (
                old.spec == obj.spec
                and old.status.state == obj.status.state
                and old.description == obj.description
                and old.role == obj.role
            )
        return True

    def handle(self, event: Event) -> None:
        obj: Any = event.obj
        if event.kind == "tasks":
            self._task_event(event, obj)
        elif event.kind == "services":
            if event.action == Action.DELETE:
                self._services.add(obj.id)
                self.restart.forget_service(obj.id)
                self.updater.forget_service(obj.id)
            elif is_global(obj) or is_global(event.old):
                self._services.add(obj.id)
        elif event.kind == "nodes":
            self._nodes.add(obj.id)

    def _task_event(self, event: Event, t: Any) -> None:
        if t.slot or not t.service_id:
            return
        if event.action == Action.DELETE:
            self.restart.forget(t.id)
            if occupies(t):
                self._services.add(t.service_id)
            return
        if t.service_id in self._updating:
            self._services.add(t.service_id)
            return
        old: Any = event.old
        if int(t.desired_state) == RUNNING and is_terminal(t):
            if old is None or not is_terminal(old) or int(old.desired_state) != RUNNING:
                self._services.add(t.service_id)
        elif old is not None and int(old.desired_state) != int(t.desired_state) and occupies(old):
            self._services.add(t.service_id)

    def _restart_due(self, service_id: str) -> None:
        self._services.add(service_id)
        self.wake()

    def closed(self) -> None:
        self.restart.close()
        self.updater.close()

    # Ticks.

    def has_work(self) -> bool:
        return bool(self._services or self._nodes)

    async def tick(self) -> None:
        services, self._services = self._services, set()
        nodes, self._nodes = self._nodes, set()
        cache = self.store.cache
        ctx = Context(cache, asyncio.get_running_loop().time())
        plan = Plan()
        for sid in services:
            svc = cache.get(Service, sid, copy=False)
            if svc is None or svc.pending_delete:
                self._remove_tasks(sid, plan, ctx)
            elif is_global(svc):
                self.reconcile(svc, plan, ctx)
        if nodes:
            for svc in cache.list(Service, copy=False):
                if is_global(svc) and svc.id not in services and not svc.pending_delete:
                    self.reconcile(svc, plan, ctx, nodes)
        ops = plan.ops()
        result = await self.write(ops)
        self._services.update(plan.done(ops, result))
        status, self._status = self._status, []
        written = await self.write(status)
        for i in written.errors:  # the service changed meanwhile: decide again
            self._services.add(status[i].obj.id)  # type: ignore[union-attr]

    def _remove_tasks(self, service_id: str, plan: Plan, ctx: Context) -> None:
        self._updating.discard(service_id)
        self.updater.forget_service(service_id)
        self._memo = {k: v for k, v in self._memo.items() if k[0] != service_id}
        self.restart.forget_service(service_id)
        for t in ctx.cache.tasks_by_service(service_id, copy=False):
            if t.slot:
                continue
            if t.node_id and not is_terminal(t) and node_lost(ctx.node(t.node_id)):
                plan.orphan(t, f"node {t.node_id} is down")
            plan.remove(t)

    def reconcile(self, svc: Any, plan: Plan, ctx: Context, only: set[str] | None = None) -> None:
        """Plan the writes that give SVC one task on every eligible node (or those in ONLY)."""
        placement = svc.spec.task.placement
        constraints = parse_constraints(list(placement.constraints), strict=False)
        by_node: dict[str, list[Any]] = defaultdict(list)
        for t in ctx.cache.tasks_by_service(svc.id, copy=False):
            if t.slot or (only is not None and t.node_id not in only):
                continue
            if t.node_id and not is_terminal(t) and node_lost(ctx.node(t.node_id)):
                plan.orphan(t, f"node {t.node_id} is down")
            by_node[t.node_id].append(t)
        live: dict[str, _NodeSlot] = {}
        if only is None:
            node_ids = {n.id for n in ctx.cache.list(Node, copy=False)} | set(by_node)
        else:
            node_ids = only
        for node_id in node_ids:
            node = ctx.node(node_id)
            keep = node is not None and self._may_keep(node, placement, constraints)
            start = keep and int(node.spec.availability) == ACTIVE
            occupying = [t for t in by_node.get(node_id, ()) if occupies(t)]
            if not occupying:
                stopping = self._stopping(svc, node_id, keep, ctx)
                if stopping is not None:
                    live[node_id] = _NodeSlot(node_id, stopping, waiting=True)
                elif start:
                    live[node_id] = _NodeSlot(node_id, None, self._create(svc, node_id, plan, ctx))
                continue
            self.updater.release(svc.id, node_id)
            current, old, extra = split_slot(occupying, lambda t: outdated(t, svc, self._memo))
            for t in extra:
                plan.shutdown(t)
            if not keep or not node_id:
                plan.shutdown(current)
                if old is not None:
                    plan.shutdown(old)
                self.restart.forget(current.id)
                continue
            slot = live[node_id] = _NodeSlot(node_id, current, old=old)
            if int(current.desired_state) == RUNNING and is_terminal(current):
                self._restart(svc, slot, start, plan, ctx)
        if only is None:  # a rollout is paced over all the nodes
            self._update(svc, live, plan, ctx)

    def _stopping(self, svc: Any, node_id: str, keep: bool, ctx: Context) -> Any:
        """Return the old task a stop-first update waits for on NODE_ID, if any."""
        task_id = self.updater.stopping(svc.id).get(node_id)
        if task_id is None:
            return None
        old = ctx.cache.get(Task, task_id, copy=False)
        if not keep or old is None or not stops_first(old, ctx.node(node_id)):
            self.updater.release(svc.id, node_id)
            return None
        return old

    @staticmethod
    def _may_keep(node: Any, placement: Any, constraints: list[Constraint] | None) -> bool:
        if node_lost(node) or int(node.spec.availability) == DRAIN:
            return False
        if constraints is None or not node_matches(constraints, node):
            return False
        return not placement.platforms or platform_matches(placement.platforms, node)

    def _restart(self, svc: Any, slot: _NodeSlot, start: bool, plan: Plan, ctx: Context) -> None:
        cur = slot.current
        verdict = self.restart.decide(cur, ctx.now)
        if verdict is Verdict.NEVER:
            plan.finish(cur)
        elif verdict is Verdict.NOW:
            plan.shutdown(cur)
            if start:  # a paused node gets its task back once it is active again
                slot.replacement = self._create(
                    svc, slot.node_id, plan, ctx, lambda: self.restart.restarted(cur, ctx.now)
                )

    def _create(self, svc: Any, node_id: str, plan: Plan, ctx: Context, done: Any = None) -> Task:
        task = new_task(svc, node_id=node_id, cluster=ctx.cluster, networks=ctx.networks(svc))
        return plan.create(task, done)

    def _update(self, svc: Any, live: dict[str, _NodeSlot], plan: Plan, ctx: Context) -> None:
        # a task on a paused node keeps its old spec: it could not get a new one
        decision = self.updater.decide(
            svc,
            list(live.values()),
            ctx.cache.tasks_by_service(svc.id, copy=False),
            lambda t: outdated(t, svc, self._memo),
            lambda s: int(ctx.node(s.node_id).spec.availability) == ACTIVE,
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
                if stops_first(cur, ctx.node(slot.node_id)):
                    self.updater.hold(svc.id, slot.node_id, cur.id)
                    slot.waiting = True
                    continue
            slot.replacement = self._create(svc, slot.node_id, plan, ctx)
        if decision.status is not None:
            self._status.append(
                Update(changed_service(svc, decision.status, self.updater.clock(), ctx.cache))
            )
        if decision.wake_at is not None:
            self.updater.arm(svc.id, decision.wake_at)
