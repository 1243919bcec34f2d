"""Fakes for orchestrator and scheduler tests: nodes in the store and simulated agents.

    nodes = await add_nodes(store, 10, cpus=4, memory=8 << 30)
    async with running(ReplicatedOrchestrator(store), Scheduler(store), FakeAgents(store)):
        ...

FakeAgents behaves like the agents of READY nodes, in batches: a task
ASSIGNED to one of them with desired RUNNING becomes RUNNING; a task whose
desired state is above RUNNING and that still runs becomes SHUTDOWN. Tasks
of nodes that are not READY are left alone (their agent is gone). `fail()`
makes tasks FAILED (or COMPLETE) as if their container exited.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

from shoal.manager.orchestrator.loop import LoopConfig, Reconciler
from shoal.manager.store import Create, Event, Store, Update, new_id
from shoal.proto.shoal.v1.objects_pb2 import Node, NodeStatus, Service, Task
from shoal.proto.shoal.v1.specs_pb2 import NodeSpec
from shoal.proto.shoal.v1.types_pb2 import NodeRole, TaskState

RUNNING = TaskState.RUNNING


def make_node(
    hostname: str,
    *,
    cpus: float = 4,
    memory: int = 8 << 30,
    labels: dict[str, str] | None = None,
    engine_labels: dict[str, str] | None = None,
    role: int = NodeRole.WORKER,
    os: str = "linux",
    arch: str = "x86_64",
    state: int = NodeStatus.READY,
    availability: int = NodeSpec.ACTIVE,
) -> Node:
    n = Node(id=new_id(), role=role)  # type: ignore[arg-type]
    n.description.hostname = hostname
    n.description.resources.nano_cpus = int(cpus * 1e9)
    n.description.resources.memory_bytes = memory
    n.description.platform.os = os
    n.description.platform.architecture = arch
    n.description.engine.labels.update(engine_labels or {})
    n.spec.annotations.labels.update(labels or {})
    n.spec.availability = availability  # type: ignore[assignment]
    n.status.state = state  # type: ignore[assignment]
    return n


async def add_nodes(store: Store, n: int, prefix: str = "node", **kw: Any) -> list[Node]:
    """Store N READY nodes (make_node keywords) and wait until the cache has them."""
    nodes = [make_node(f"{prefix}-{i}", **kw) for i in range(n)]
    result = await store.batch([Create(x) for x in nodes])
    result.raise_first()
    await store.wait_for(result.revision)
    return nodes


async def set_node(store: Store, node_id: str, **changes: Any) -> None:
    """Change a node: state=NodeStatus.X, availability=NodeSpec.X, labels={...}."""

    def change(n: Any) -> None:
        if "state" in changes:
            n.status.state = changes["state"]
        if "availability" in changes:
            n.spec.availability = changes["availability"]
        if "labels" in changes:
            n.spec.annotations.labels.clear()
            n.spec.annotations.labels.update(changes["labels"])

    node = await store.mutate(Node, node_id, change)
    await store.wait_for(node.meta.version.index)


def make_service(name: str, replicas: int | None = 1, **task: Any) -> Service:
    """Return a replicated (or global, REPLICAS None) service; TASK sets spec.task fields."""
    svc = Service()
    svc.spec.annotations.name = name
    if replicas is None:
        getattr(svc.spec, "global").SetInParent()
    else:
        svc.spec.replicated.replicas = replicas
    svc.spec.task.container.image = "busybox"
    for key, value in task.items():
        getattr(svc.spec.task, key).CopyFrom(value)
    svc.spec_version.index = 1
    return svc


async def create_service(store: Store, svc: Service) -> Service:
    svc = await store.create(svc)
    await store.wait_for(svc.meta.version.index)
    return svc


async def update_service(store: Store, service_id: str, change: Any) -> Service:
    """Apply CHANGE to the service and bump its spec_version (as the control API does)."""

    def apply(s: Any) -> None:
        change(s)
        s.spec_version.index = s.spec_version.index + 1

    svc = await store.mutate(Service, service_id, apply)
    await store.wait_for(svc.meta.version.index)
    return svc


class FakeAgents(Reconciler):
    """Plays the agents of every READY node, writing status changes in batches."""

    kinds = (Task, Node)
    name = "fake-agents"

    def __init__(self, store: Store, config: LoopConfig | None = None) -> None:
        super().__init__(store, config)
        self._dirty: set[str] = set()
        self.enabled = True
        self.reports = 0

    def resync(self) -> None:
        self._dirty.update(t.id for t in self.store.list(Task, copy=False) if t.node_id)

    def handle(self, event: Event) -> None:
        if event.kind == "tasks":
            self._dirty.add(event.obj_id)
        else:
            for t in self.store.cache.tasks_by_node(event.obj_id, copy=False):
                self._dirty.add(t.id)

    def has_work(self) -> bool:
        return self.enabled and bool(self._dirty)

    async def tick(self) -> None:
        dirty, self._dirty = self._dirty, set()
        ops = []
        for tid in dirty:
            t = self.store.get(Task, tid, copy=False)
            if t is None or not t.node_id:
                continue
            node = self.store.get(Node, t.node_id, copy=False)
            if node is None or node.status.state != NodeStatus.READY:
                continue
            state = int(t.status.state)
            new = None
            if int(t.desired_state) <= RUNNING and TaskState.ASSIGNED <= state < RUNNING:
                new = RUNNING
            elif int(t.desired_state) > RUNNING and TaskState.ASSIGNED <= state <= RUNNING:
                new = TaskState.SHUTDOWN
            if new is not None:
                ops.append(Update(_with_status(t, new)))
        self.reports += len(ops)
        result = await self.write(ops)
        for i in result.errors:
            self._dirty.add(ops[i].obj.id)  # type: ignore[union-attr]

    async def fail(self, tasks: Iterable[Any], state: int = TaskState.FAILED) -> None:
        """Make TASKS stop by themselves with STATE (FAILED, COMPLETE, ...)."""
        ops = []
        for t in tasks:
            cur = self.store.get(Task, t.id, copy=False)
            if cur is not None:
                ops.append(Update(_with_status(cur, state, "exited")))
        result = await self.store.batch(ops)
        result.raise_first()
        await self.store.wait_for(result.revision)


def _with_status(task: Any, state: int, message: str = "") -> Task:
    t = Task()
    t.CopyFrom(task)
    t.status.state = state  # type: ignore[assignment]
    t.status.message = message or TaskState.Name(state).lower()
    t.status.timestamp.GetCurrentTime()
    return t


@contextlib.asynccontextmanager
async def running(*loops: Reconciler) -> AsyncIterator[None]:
    """Run LOOPS for the duration of the block, then stop them."""
    for loop in loops:
        await loop.start()
    try:
        yield
    finally:
        for loop in reversed(loops):
            await loop.stop()


def live(store: Store, service_id: str) -> list[Any]:
    """Return the service's tasks that occupy a slot (desired RUNNING or COMPLETE)."""
    return [
        t
        for t in store.cache.tasks_by_service(service_id, copy=False)
        if t.desired_state <= TaskState.COMPLETE
    ]


def running_tasks(store: Store, service_id: str) -> list[Any]:
    return [
        t
        for t in store.cache.tasks_by_service(service_id, copy=False)
        if t.desired_state == RUNNING and t.status.state == RUNNING
    ]


async def settle(seconds: float = 0.2) -> None:
    await asyncio.sleep(seconds)
