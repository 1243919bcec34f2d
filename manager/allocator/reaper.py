"""The network reaper: deletes a network marked pending_delete once no live task uses it.

RemoveNetwork refuses a network that a service or a task meant to run still
uses; when the only users are tasks being shut down (their service was just
removed, as `stack rm` does), it marks the network `pending_delete` instead
(hidden from Get/List, its name free again) and this leader loop deletes it
when none of those tasks runs any more. Until then its subnet and VNI stay
reserved, so no new network lands on addresses whose bridges still exist.
"""

from __future__ import annotations

import logging
from typing import Any

from shoal.manager.orchestrator.loop import LoopConfig, Reconciler
from shoal.manager.store import Action, Delete, Event, Store
from shoal.proto.shoal.v1 import types_pb2
from shoal.proto.shoal.v1.objects_pb2 import Network, Task

log = logging.getLogger(__name__)


def uses(task: Any, net: Any) -> bool:
    """Return whether TASK is attached to NET (by its spec or its attachments)."""
    refs = {net.id, net.spec.annotations.name}
    return any(na.target in refs for na in task.spec.networks) or any(
        a.network.id == net.id for a in task.networks)


def live_users(tasks: Any, net: Any) -> list[Any]:
    """Return the tasks of TASKS that use NET and have not stopped."""
    return [t for t in tasks if int(t.status.state) <= types_pb2.RUNNING and uses(t, net)]


class NetworkReaper(Reconciler):
    """Deletes pending_delete networks without live tasks; leader only."""

    kinds = (Network, Task)
    name = "network-reaper"

    def __init__(self, store: Store, config: LoopConfig | None = None) -> None:
        super().__init__(store, config or LoopConfig(debounce=0.05))
        self._pending: set[str] = set()  # pending_delete networks
        self._dirty = True  # something that may free one of them happened
        self.deleted = 0

    def resync(self) -> None:
        self._pending = {n.id for n in self.store.cache.list(Network, copy=False)
                         if n.pending_delete}
        self._dirty = True

    def wants(self, event: Event) -> bool:
        obj: Any = event.obj
        if event.kind == "networks":
            return event.action != Action.DELETE and bool(obj.pending_delete)
        # a task that stops or goes away may free a network
        return bool(self._pending) and (event.action == Action.DELETE
                                        or int(obj.status.state) > types_pb2.RUNNING)

    def handle(self, event: Event) -> None:
        if event.kind == "networks":
            self._pending.add(event.obj.id)  # type: ignore[attr-defined]
        self._dirty = True

    def has_work(self) -> bool:
        return bool(self._pending) and self._dirty

    async def tick(self) -> None:
        self._dirty = False
        cache = self.store.cache
        tasks = cache.list(Task, copy=False)
        ops = []
        for net_id in sorted(self._pending):
            net = cache.get(Network, net_id, copy=False)
            if net is None or not net.pending_delete:
                self._pending.discard(net_id)
                continue
            if not live_users(tasks, net):
                ops.append(Delete(Network, net_id, int(net.meta.version.index)))
        if not ops:
            return
        result = await self.store.batch(ops)
        for i, op in enumerate(ops):
            if i not in result.errors:
                self._pending.discard(op.obj_id)
                self.deleted += 1
                log.info("network %s deleted (pending deletion, no task left)", op.obj_id)
        if result.revision:
            await self.store.wait_for(result.revision)
