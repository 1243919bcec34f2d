"""The scheduler's filters: small classes that each rule nodes out for one reason.

Each filter has `set_task(task) -> bool` (does it apply to this task? it
keeps what it needs from the task), `check(node_info) -> bool` (may the task
run there?) and `explain(n_failed) -> str` (why N nodes were ruled out, in
Swarm's words). The Pipeline (pipeline.py) runs them in order and counts,
for each node, the first filter that failed.
"""

from __future__ import annotations

from typing import Any, Protocol

from shoal.manager.scheduler.constraints import (
    Constraint,
    node_matches,
    parse_constraints,
    platform_matches,
)
from shoal.manager.scheduler.nodeinfo import NodeInfo, Port, host_ports


def nodes(n: int) -> str:
    return "1 node" if n == 1 else f"{n} nodes"


class Filter(Protocol):
    def set_task(self, task: Any) -> bool: ...

    def check(self, node: NodeInfo) -> bool: ...

    def explain(self, n_failed: int) -> str: ...


class ReadyFilter:
    """The node's agent is connected and reported READY."""

    def set_task(self, task: Any) -> bool:
        return True

    def check(self, node: NodeInfo) -> bool:
        return node.ready

    def explain(self, n_failed: int) -> str:
        return f"{nodes(n_failed)} not available"


class AvailabilityFilter:
    """The node takes new tasks (availability ACTIVE, not PAUSE or DRAIN)."""

    def set_task(self, task: Any) -> bool:
        return True

    def check(self, node: NodeInfo) -> bool:
        return node.active

    def explain(self, n_failed: int) -> str:
        return f"{nodes(n_failed)} paused or drained"


class ResourceFilter:
    """The node's CPUs and memory, minus what its tasks reserve, cover the reservations."""

    def __init__(self) -> None:
        self.cpus = 0
        self.memory = 0

    def set_task(self, task: Any) -> bool:
        res = task.spec.resources.reservations
        self.cpus = int(res.nano_cpus)
        self.memory = int(res.memory_bytes)
        return bool(self.cpus or self.memory)

    def check(self, node: NodeInfo) -> bool:
        return node.free_cpus >= self.cpus and node.free_memory >= self.memory

    def explain(self, n_failed: int) -> str:
        return f"insufficient resources on {nodes(n_failed)}"


class ConstraintFilter:
    """The node satisfies the task's placement constraints."""

    def __init__(self) -> None:
        self.constraints: list[Constraint] | None = []

    def set_task(self, task: Any) -> bool:
        exprs = task.spec.placement.constraints
        if not exprs:
            return False
        # An invalid expression (the control API should have refused it) fits no node.
        self.constraints = parse_constraints(list(exprs), strict=False)
        return True

    def check(self, node: NodeInfo) -> bool:
        return self.constraints is not None and node_matches(self.constraints, node.node)

    def explain(self, n_failed: int) -> str:
        return f"scheduling constraints not satisfied on {nodes(n_failed)}"


class PlatformFilter:
    """The node's OS and architecture are among the task's platforms (if it lists any)."""

    def __init__(self) -> None:
        self.platforms: list[Any] = []

    def set_task(self, task: Any) -> bool:
        self.platforms = list(task.spec.placement.platforms)
        return bool(self.platforms)

    def check(self, node: NodeInfo) -> bool:
        return platform_matches(self.platforms, node.node)

    def explain(self, n_failed: int) -> str:
        return f"unsupported platform on {nodes(n_failed)}"


class HostPortFilter:
    """No task on the node already publishes one of the task's host-mode ports."""

    def __init__(self) -> None:
        self.ports: tuple[Port, ...] = ()

    def set_task(self, task: Any) -> bool:
        self.ports = host_ports(task)
        return bool(self.ports)

    def check(self, node: NodeInfo) -> bool:
        used = node.ports
        return not used or not any(p in used for p in self.ports)

    def explain(self, n_failed: int) -> str:
        return f"host-mode port already in use on {nodes(n_failed)}"


class MaxReplicasFilter:
    """The node runs fewer than placement.max_replicas_per_node tasks of the service."""

    def __init__(self) -> None:
        self.service_id = ""
        self.limit = 0

    def set_task(self, task: Any) -> bool:
        self.service_id = task.service_id
        self.limit = int(task.spec.placement.max_replicas_per_node)
        return self.limit > 0

    def check(self, node: NodeInfo) -> bool:
        return node.by_service.get(self.service_id, 0) < self.limit

    def explain(self, n_failed: int) -> str:
        return f"max replicas per node reached on {nodes(n_failed)}"


def default_filters() -> list[Filter]:
    """Return a fresh set of the filters, in the order the pipeline runs them."""
    return [
        ReadyFilter(),
        AvailabilityFilter(),
        ResourceFilter(),
        ConstraintFilter(),
        PlatformFilter(),
        HostPortFilter(),
        MaxReplicasFilter(),
    ]
