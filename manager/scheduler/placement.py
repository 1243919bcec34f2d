"""Batch placement: N identical tasks over the nodes that passed the filters, in one pass.

Without placement preferences the candidates sit in one min-heap keyed by
(tasks of this service on the node, all tasks on the node, node order):
each task takes the top node, whose counts then grow, and the node goes back
in the heap if the task would still fit there (resources, ports, max
replicas change as tasks land). That is O(N log M) for N tasks on M nodes
instead of N scans of M nodes.

Each preference `spread=<label path>` adds a level above: nodes are grouped
by the label's value (nodes without the label form a group of their own),
and each group sits in its parent's heap keyed by how many tasks of the
service the group runs, so tasks spread evenly over the values first, then
over the nodes of each value. A group that can take no more leaves the heap.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from shoal.manager.scheduler.constraints import node_attribute
from shoal.manager.scheduler.nodeinfo import NodeInfo

Assign = Callable[[NodeInfo], None]
Fits = Callable[[NodeInfo], bool]


class _Leaf:
    """Nodes in a heap by (service tasks, total tasks, order)."""

    def __init__(self, nodes: Sequence[NodeInfo], service_id: str) -> None:
        self.service_id = service_id
        self.heap = [(n.by_service.get(service_id, 0), n.tasks, n.seq, n) for n in nodes]
        heapq.heapify(self.heap)
        self.tasks: int = sum(entry[0] for entry in self.heap)

    def place(self, assign: Assign, fits: Fits) -> NodeInfo | None:
        if not self.heap:
            return None
        _, _, seq, node = heapq.heappop(self.heap)
        assign(node)
        self.tasks += 1
        if fits(node):
            entry = (node.by_service.get(self.service_id, 0), node.tasks, seq, node)
            heapq.heappush(self.heap, entry)
        return node


class _Branch:
    """Groups of nodes sharing a label value, in a heap by the service's tasks in each."""

    def __init__(self, children: Sequence[_Leaf | _Branch]) -> None:
        self.heap = [(c.tasks, i, c) for i, c in enumerate(children)]
        heapq.heapify(self.heap)
        self.tasks: int = sum(c.tasks for c in children)

    def place(self, assign: Assign, fits: Fits) -> NodeInfo | None:
        while self.heap:
            _, i, child = heapq.heappop(self.heap)
            node = child.place(assign, fits)
            if node is None:
                continue  # this group is full: it leaves
            self.tasks += 1
            heapq.heappush(self.heap, (child.tasks, i, child))
            return node
        return None


def spread_descriptors(task: Any) -> list[str]:
    """Return the label paths of TASK's spread preferences, outermost first."""
    return [
        p.spread.spread_descriptor
        for p in task.spec.placement.preferences
        if p.WhichOneof("preference") == "spread" and p.spread.spread_descriptor
    ]


def build(nodes: Sequence[NodeInfo], service_id: str, spread: Sequence[str]) -> _Leaf | _Branch:
    """Return the placement tree of NODES for a task of SERVICE_ID."""
    if not spread:
        return _Leaf(nodes, service_id)
    groups: dict[str, list[NodeInfo]] = defaultdict(list)
    for n in nodes:
        groups[node_attribute(n.node, spread[0]) or ""].append(n)
    return _Branch([build(groups[v], service_id, spread[1:]) for v in sorted(groups)])


class Placer:
    """Places tasks one after the other on a tree built once per group of tasks."""

    def __init__(
        self, nodes: Sequence[NodeInfo], service_id: str, spread: Sequence[str], fits: Fits
    ) -> None:
        self.tree = build(nodes, service_id, spread)
        self.fits = fits

    def place(self, assign: Assign) -> NodeInfo | None:
        """Return the node chosen for one more task (ASSIGN already applied), or None."""
        return self.tree.place(assign, self.fits)
