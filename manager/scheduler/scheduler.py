"""The scheduler: assigns PENDING tasks to nodes, many per pass, written in batches.

State, all in memory and kept incrementally from the store's events:
a NodeInfo per node (with what its tasks use), each task's current Usage,
and the schedulable tasks (status PENDING, desired RUNNING or less).

A tick takes the schedulable tasks that are new (or all of them, when
capacity changed: a node joined, changed or freed resources), groups the
identical ones (same service and spec_version), and for each group runs the
filter pipeline once over the nodes, then places the whole group with the
placement tree (placement.py). Placed tasks are written with node_id and
status ASSIGNED ("scheduler assigned task to node"); a task that fits
nowhere stays PENDING with status.err saying why, written only when the
explanation changes. Tasks created with a node_id (global services) are
only checked against that node.

Usage is applied as soon as a task is placed, so later groups of the same
tick see it. A write that fails (the task changed meanwhile) undoes its
usage; the events that made it fail bring the task back if it is still
schedulable, and it is tried again on the next tick.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import Any

from shoal.manager.orchestrator.loop import LoopConfig, Reconciler
from shoal.manager.scheduler.nodeinfo import NodeInfo, Usage, usage_of
from shoal.manager.scheduler.pipeline import Pipeline
from shoal.manager.scheduler.placement import Placer, spread_descriptors
from shoal.manager.store import Action, Event, Op, Store, Update
from shoal.proto.shoal.v1.objects_pb2 import Node, Task
from shoal.proto.shoal.v1.types_pb2 import TaskState

log = logging.getLogger(__name__)

PENDING = TaskState.PENDING
ASSIGNED = TaskState.ASSIGNED
RUNNING = TaskState.RUNNING
ASSIGNED_MESSAGE = "scheduler assigned task to node"


def schedulable(task: Any) -> bool:
    return int(task.status.state) == PENDING and int(task.desired_state) <= RUNNING


def _phase(task: Any) -> int:
    """Return 0 before ASSIGNED, 1 while the task uses its node, 2 once it stopped."""
    state = int(task.status.state)
    return 0 if state < ASSIGNED else 1 if state <= RUNNING else 2


def _group_key(task: Any) -> tuple[Hashable, ...]:
    if task.node_id:
        return ("@", task.id)  # pre-assigned (global): checked against its node alone
    version = int(task.spec_version.index)
    if version:
        return (task.service_id, version)
    return (task.service_id, task.spec.SerializeToString(deterministic=True))


class Scheduler(Reconciler):
    """Assigns pending tasks to nodes; leader only."""

    kinds = (Task, Node)
    name = "scheduler"

    def __init__(
        self,
        store: Store,
        *,
        pipeline: Pipeline | None = None,
        config: LoopConfig | None = None,
    ) -> None:
        super().__init__(store, config)
        self.pipeline = pipeline or Pipeline()
        self.nodes: dict[str, NodeInfo] = {}
        self._usage: dict[str, Usage] = {}  # task id -> what it uses now
        self._pending: dict[str, Any] = {}  # schedulable tasks (cache snapshots)
        self._failed: set[str] = set()  # pending tasks that fit nowhere last time
        self._fresh = False  # pending tasks not tried yet
        self._retry = False  # capacity changed: try the failed ones again
        self._seq = 0
        # one tick's writes: placements (with each task's usage before), explanations
        self._ops: list[Op] = []
        self._before: list[tuple[Any, Usage | None]] = []
        self._why: list[Op] = []
        # counters for benchmarks and logs
        self.placed = 0
        self.busy_seconds = 0.0

    # Events.

    def resync(self) -> None:
        cache = self.store.cache
        self.nodes.clear()
        self._usage.clear()
        self._pending.clear()
        self._failed.clear()
        for node in cache.list(Node, copy=False):
            self._put_node(node)
        for task in cache.list(Task, copy=False):
            self._track(task.id, task)
        self._fresh = self._retry = True

    def wants(self, event: Event) -> bool:
        if event.kind != "tasks":
            return True
        t: Any = event.obj
        old: Any = event.old
        if event.action == Action.DELETE:
            return t.id in self._usage or t.id in self._pending
        if old is None or schedulable(t) or schedulable(old):
            return True
        # agents' progress (ACCEPTED ... RUNNING) changes nothing the scheduler counts
        return (
            old.node_id != t.node_id
            or old.desired_state != t.desired_state
            or _phase(old) != _phase(t)
        )

    def handle(self, event: Event) -> None:
        if event.kind == "tasks":
            self._track(event.obj_id, None if event.action == Action.DELETE else event.obj)
        elif event.kind == "nodes":
            if event.action == Action.DELETE:
                self.nodes.pop(event.obj_id, None)
            else:
                self._put_node(event.obj)
            self._retry = True

    def _put_node(self, node: Any) -> None:
        info = self.nodes.get(node.id)
        if info is not None:
            info.set_node(node)
            return
        self._seq += 1
        info = self.nodes[node.id] = NodeInfo(node, self._seq)
        for task in self.store.cache.tasks_by_node(node.id, copy=False):
            u = self._usage.get(task.id)
            if u is not None and u.node_id == node.id:
                info.add(u)

    def _track(self, task_id: str, task: Any) -> None:
        """Bring TASK_ID's usage and pending state to TASK (None: deleted)."""
        new = usage_of(task) if task is not None else None
        old = self._usage.get(task_id)
        if old != new:
            self._set_usage(task_id, old, new)
        if task is not None and schedulable(task):
            if task_id not in self._pending:
                self._fresh = True
            self._pending[task_id] = task
        elif self._pending.pop(task_id, None) is not None:
            self._failed.discard(task_id)

    def _set_usage(self, task_id: str, old: Usage | None, new: Usage | None) -> None:
        if old is not None:
            info = self.nodes.get(old.node_id)
            if info is not None:
                info.add(old, -1)
            self._retry = True  # resources or a place freed
        if new is not None:
            self._usage[task_id] = new
            info = self.nodes.get(new.node_id)
            if info is not None:
                info.add(new)
        else:
            self._usage.pop(task_id, None)

    # Ticks.

    def has_work(self) -> bool:
        if not self._pending:
            self._fresh = self._retry = False
        return self._fresh or self._retry

    async def tick(self) -> None:
        started = time.perf_counter()
        retry = self._retry
        self._fresh = self._retry = False
        groups: dict[tuple[Hashable, ...], list[Any]] = {}
        for tid, task in self._pending.items():
            if retry or tid not in self._failed:
                groups.setdefault(_group_key(task), []).append(task)
        for key, tasks in groups.items():
            if key[0] == "@":
                self._schedule_preassigned(tasks[0])
            else:
                self._schedule_group(tasks)
        ops, before = self._ops + self._why, self._before
        self._ops, self._before, self._why = [], [], []
        self.busy_seconds += time.perf_counter() - started
        if not ops:
            return
        result = await self.write(ops)
        self.placed += len(before) - sum(1 for i in result.errors if i < len(before))
        for i, err in result.errors.items():
            if i < len(before):
                task, old = before[i]
                self._set_usage(task.id, self._usage.get(task.id), old)
                self._pending.setdefault(task.id, task)
                self._fresh = True
            else:  # the explanation of a task that changed meanwhile: look at it again
                op: Any = ops[i]
                self._failed.discard(op.obj.id)
                self._fresh = True
                log.debug("scheduler: could not record why a task is pending: %s", err)

    def _schedule_group(self, tasks: list[Any]) -> None:
        rep = tasks[0]
        pipeline = self.pipeline
        pipeline.set_task(rep)
        candidates = [n for n in self.nodes.values() if pipeline.check(n)]
        tasks.sort(key=lambda t: (t.slot, t.id))
        placed = 0
        if candidates:
            # identical tasks use the same, but for the node
            base = usage_of(rep, "")
            assert base is not None

            def assign(node: NodeInfo) -> None:
                node.add(base._replace(node_id=node.id))

            placer = Placer(candidates, rep.service_id, spread_descriptors(rep), pipeline.fits)
            for task in tasks:
                node = placer.place(assign)
                if node is None:
                    break
                self._assign(task, node, base._replace(node_id=node.id))
                placed += 1
        if placed < len(tasks):
            pipeline.reset_counts()
            for n in self.nodes.values():
                pipeline.check(n)
            self._explain(tasks[placed:], pipeline.explain())

    def _schedule_preassigned(self, task: Any) -> None:
        self.pipeline.set_task(task)
        node = self.nodes.get(task.node_id)
        if node is not None and self.pipeline.check(node):
            usage = usage_of(task, node.id)
            assert usage is not None
            node.add(usage)
            self._assign(task, node, usage)
        else:
            why = self.pipeline.explain() if node is not None else "no suitable node (node gone)"
            self._explain([task], why)

    def _assign(self, task: Any, node: NodeInfo, usage: Usage) -> None:
        """Record TASK on NODE (USAGE already added there) and queue the write."""
        self._before.append((task, self._usage.get(task.id)))
        self._usage[task.id] = usage
        self._pending.pop(task.id, None)
        self._failed.discard(task.id)
        t = Task()
        t.CopyFrom(task)
        t.node_id = node.id
        t.status.state = ASSIGNED
        t.status.message = ASSIGNED_MESSAGE
        t.status.err = ""
        t.status.timestamp.GetCurrentTime()
        self._ops.append(Update(t))

    def _explain(self, tasks: list[Any], why: str) -> None:
        for task in tasks:
            self._failed.add(task.id)
            if task.status.err == why:
                continue
            t = Task()
            t.CopyFrom(task)
            t.status.err = why
            t.status.timestamp.GetCurrentTime()
            self._why.append(Update(t))
