"""Tasks: get, list (by service, node, desired state) and remove.

Tasks are created by the orchestrators; removing one here deletes it (as
Docker's RemoveTask does); its orchestrator replaces it if its slot needs one.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable

from shoal.manager.controlapi.base import Base
from shoal.manager.controlapi.filters import matches
from shoal.proto.shoal.v1 import control_pb2, objects_pb2

Task = objects_pb2.Task


def task_name(t: Task) -> str:
    """Return "<service>.<slot>.<id>" (global: "<service>.<node id>.<id>")."""
    if t.annotations.name:
        return t.annotations.name
    return f"{t.service_annotations.name}.{t.slot or t.node_id}.{t.id}"


class TaskOps(Base):
    """The task calls of the Control API."""

    def get_task(self, task_id: str) -> Task:
        return self._get(Task, task_id)

    def _ids(self, refs: Iterable[str], kind: type, hostnames: bool = False) -> set[str]:
        """Return the ids REFS name: each an id or a name (a hostname for nodes)."""
        out: set[str] = set()
        for ref in refs:
            out.add(ref)
            if hostnames:
                out.update(
                    n.id
                    for n in self.store.list(objects_pb2.Node, copy=False)
                    if ref in (n.spec.annotations.name, n.description.hostname)
                )
            else:
                named = self.store.cache.by_name(kind, ref, copy=False)
                if named is not None:
                    out.add(named.id)
        return out

    def list_tasks(
        self,
        filters: control_pb2.ListFilters | None = None,
        service_ids: Iterable[str] = (),
        node_ids: Iterable[str] = (),
        desired_states: Iterable[int] = (),
    ) -> builtins.list[Task]:
        """Return the tasks that pass every filter; services and nodes by id or name."""
        services = self._ids(service_ids, objects_pb2.Service)
        nodes = self._ids(node_ids, objects_pb2.Node, hostnames=True)
        states = set(desired_states)
        cache = self.store.cache
        if services:
            candidates = [t for s in services for t in cache.tasks_by_service(s, copy=False)]
        elif nodes:
            candidates = [t for n in nodes for t in cache.tasks_by_node(n, copy=False)]
        else:
            candidates = self.store.list(Task, copy=False)
        out = []
        for t in candidates:
            if services and t.service_id not in services:
                continue
            if nodes and t.node_id not in nodes:
                continue
            if states and t.desired_state not in states:
                continue
            if not matches(filters, t.id, [task_name(t)], t.annotations.labels):
                continue
            copy = Task()
            copy.CopyFrom(t)
            out.append(copy)
        return out

    async def remove_task(self, task_id: str) -> None:
        self._get(Task, task_id)
        await self._settle(await self.store.delete(Task, task_id))
