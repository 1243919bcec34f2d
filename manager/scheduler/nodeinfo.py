"""What the scheduler knows about each node: its object plus what its tasks use.

A task *uses* its node from ASSIGNED until it stops (status <= RUNNING):
its reservations, its host-mode published ports. It also *counts* towards
spreading and max-replicas-per-node while its desired state is RUNNING (a
task being shut down still holds its resources, but no longer its place).
Usage is kept incrementally: every task change adds its new Usage and
subtracts its old one; nothing is recomputed from scratch after the start.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from shoal.proto.shoal.v1.objects_pb2 import NodeStatus
from shoal.proto.shoal.v1.specs_pb2 import NodeSpec
from shoal.proto.shoal.v1.types_pb2 import PortConfig, TaskState

READY = NodeStatus.READY
ACTIVE = NodeSpec.ACTIVE
ASSIGNED = TaskState.ASSIGNED
RUNNING = TaskState.RUNNING
HOST = PortConfig.HOST

Port = tuple[int, int]  # (protocol, published port)


class Usage(NamedTuple):
    """What one task takes from its node."""

    node_id: str
    service_id: str
    counted: bool  # desired RUNNING: counts for spreading and max replicas
    nano_cpus: int
    memory_bytes: int
    ports: tuple[Port, ...]


def host_ports(task: Any) -> tuple[Port, ...]:
    """Return the host-mode ports TASK publishes on its node (0: the engine picks one)."""
    ports = task.endpoint.ports or task.endpoint.spec.ports
    return tuple(
        (int(p.protocol), int(p.published_port))
        for p in ports
        if p.publish_mode == HOST and p.published_port
    )


def usage_of(task: Any, node_id: str | None = None) -> Usage | None:
    """Return what TASK uses (on NODE_ID if given, as if assigned there), or None."""
    if node_id is None:
        node_id = task.node_id
        state = int(task.status.state)
        if not node_id or state < ASSIGNED or state > RUNNING:
            return None
    res = task.spec.resources.reservations
    return Usage(
        node_id,
        task.service_id,
        int(task.desired_state) <= RUNNING,
        int(res.nano_cpus),
        int(res.memory_bytes),
        host_ports(task),
    )


class NodeInfo:
    """A node and the running total of what its tasks use."""

    __slots__ = (
        "active",
        "by_service",
        "id",
        "memory_bytes",
        "nano_cpus",
        "node",
        "ports",
        "ready",
        "reserved_cpus",
        "reserved_memory",
        "seq",
        "tasks",
    )

    def __init__(self, node: Any, seq: int = 0) -> None:
        self.id: str = node.id
        self.seq = seq  # tie-breaker: the order nodes became known
        self.tasks = 0  # counted tasks
        self.by_service: Counter[str] = Counter()
        self.ports: Counter[Port] = Counter()
        self.reserved_cpus = 0
        self.reserved_memory = 0
        self.set_node(node)

    def set_node(self, node: Any) -> None:
        """Take NODE (the cache's snapshot, never edited) as the current object."""
        self.node = node
        self.ready = int(node.status.state) == READY
        self.active = int(node.spec.availability) == ACTIVE
        self.nano_cpus = int(node.description.resources.nano_cpus)
        self.memory_bytes = int(node.description.resources.memory_bytes)

    @property
    def free_cpus(self) -> int:
        return self.nano_cpus - self.reserved_cpus

    @property
    def free_memory(self) -> int:
        return self.memory_bytes - self.reserved_memory

    def add(self, u: Usage, sign: int = 1) -> None:
        """Add (SIGN 1) or subtract (-1) one task's usage."""
        self.reserved_cpus += sign * u.nano_cpus
        self.reserved_memory += sign * u.memory_bytes
        if u.counted:
            self.tasks += sign
            n = self.by_service[u.service_id] + sign
            if n:
                self.by_service[u.service_id] = n
            else:
                del self.by_service[u.service_id]
        for p in u.ports:
            m = self.ports[p] + sign
            if m:
                self.ports[p] = m
            else:
                del self.ports[p]

    def __repr__(self) -> str:
        return f"NodeInfo({self.id}, tasks={self.tasks})"
