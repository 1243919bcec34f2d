"""Network states on the assignment streams: computed per network, coalesced, diffed.

One store subscription (tasks attached to a network, services, networks,
nodes) marks networks dirty; at most every `interval` seconds the dirty
networks are computed again (networkstate.py) and each node's new state is
compared with what it was last given: only changed states go out, as
UPDATE, and a node that no longer takes part gets a REMOVE. A burst of a
thousand task changes on one network thus costs one computation and one
message per node that sees a difference.

Tasks without networks never reach this component (the subscription's
filter drops them), so a cluster without networks pays nothing here. The
last computed state of every node is kept (connected or not), so a node
that opens a stream gets it in its COMPLETE message, and what it is sent
afterwards is a diff against exactly that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from shoal.manager.dispatcher.assignments import REMOVE, UPDATE, AssignmentRouter
from shoal.manager.dispatcher.networkstate import network_state_bytes
from shoal.manager.store import Action, Event, Store, Subscription
from shoal.proto.shoal.v1.dispatcher_pb2 import NetworkState
from shoal.proto.shoal.v1.objects_pb2 import Network, Node, Service, Task

log = logging.getLogger(__name__)


def _networks_of(task: Any) -> set[str]:
    return {a.network.id for a in task.networks}


class NetworkStates:
    """Keeps every node's NetworkStates and pushes their changes to its streams."""

    def __init__(self, store: Store, router: AssignmentRouter, interval: float = 0.15) -> None:
        self.store = store
        self.router = router
        self.interval = interval
        self._tasks: dict[str, dict[str, Any]] = {}  # network id -> task id -> task
        self._service_nets: dict[str, set[str]] = {}  # service id -> networks of its tasks
        # network id -> node id -> the serialized state it was last given
        self._states: dict[str, dict[str, bytes]] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self.computations = 0  # networks computed (tests and benchmarks read it)
        self.changes_sent = 0

    def start(self) -> None:
        self._sub = self.store.subscribe(Task, Service, Network, Node, where=self._wants)
        for t in self.store.cache.list(Task, copy=False):
            if t.networks:
                self._index(t)
        self._dirty = {n.id for n in self.store.cache.list(Network, copy=False)}
        self._recompute()
        self._task = asyncio.create_task(self._run(), name="dispatcher-networks")

    async def stop(self) -> None:
        if self._sub is not None:
            self._sub.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def for_node(self, node_id: str) -> list[NetworkState]:
        """Return the current NetworkStates of NODE_ID (for its COMPLETE message)."""
        return [NetworkState.FromString(states[node_id])
                for _, states in sorted(self._states.items()) if node_id in states]

    # Events.

    @staticmethod
    def _wants(event: Event) -> bool:
        if event.kind != "tasks":
            return True
        new: Any = event.obj
        old: Any = event.old
        if not new.networks and (old is None or not old.networks):
            return False
        if old is None or event.action == Action.DELETE:
            return True
        return bool(old.status.state != new.status.state
                    or old.desired_state != new.desired_state
                    or old.node_id != new.node_id or old.networks != new.networks)

    def _index(self, task: Any) -> set[str]:
        nets = _networks_of(task)
        for net_id in nets:
            self._tasks.setdefault(net_id, {})[task.id] = task
        if nets:
            self._service_nets.setdefault(task.service_id, set()).update(nets)
        return nets

    def handle(self, event: Event) -> None:
        obj: Any = event.obj
        old: Any = event.old
        if event.kind == "tasks":
            before = _networks_of(old) if old is not None else set()
            if event.action == Action.DELETE:
                before |= _networks_of(obj)
            for net_id in before:
                self._tasks.get(net_id, {}).pop(obj.id, None)
            now = set() if event.action == Action.DELETE else self._index(obj)
            self._dirty |= before | now
        elif event.kind == "networks":
            self._dirty.add(obj.id)
            if event.action == Action.DELETE:
                self._tasks.pop(obj.id, None)
        elif event.kind == "services":
            self._dirty |= self._service_nets.get(obj.id, set())
            for svc in (obj, old):
                if svc is not None:
                    self._dirty |= {v.network_id for v in svc.endpoint.virtual_ips}
            if event.action == Action.DELETE:
                self._service_nets.pop(obj.id, None)
        else:  # nodes: rare (transitions only); peers and ingress follow them
            self._dirty |= set(self._states) | set(self._tasks)
            self._dirty |= {n.id for n in self.store.cache.list(Network, copy=False)
                            if n.spec.ingress}
        self._wake.set()

    async def _run(self) -> None:
        assert self._sub is not None
        sub = self._sub
        while True:
            event = await sub.get()
            if event is None:
                return
            while event is not None:
                self.handle(event)
                event = sub.get_nowait()
            await asyncio.sleep(self.interval)  # coalesce the burst
            while (event := sub.get_nowait()) is not None:
                self.handle(event)
            try:
                self._recompute()
            except Exception:  # one bad network must not stop every node's updates
                log.exception("computing network states failed")

    # Computing and sending.

    def _recompute(self) -> None:
        dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        cache = self.store.cache
        services = {s.id: s for s in cache.list(Service, copy=False)}
        nodes = {n.id: n for n in cache.list(Node, copy=False)}
        for net_id in sorted(dirty):
            net = cache.get(Network, net_id, copy=False)
            before = self._states.get(net_id, {})
            if net is None:
                after: dict[str, bytes] = {}
            else:
                tasks = self._tasks.get(net_id, {}).values()
                after = network_state_bytes(net, tasks, services, nodes)
                self.computations += 1
            for node_id, state in after.items():
                if before.get(node_id) != state:
                    self.router.push_network(node_id, UPDATE, NetworkState.FromString(state))
                    self.changes_sent += 1
            for node_id in before:
                if node_id not in after:
                    self.router.push_network(node_id, REMOVE, NetworkState(network_id=net_id))
                    self.changes_sent += 1
            if after:
                self._states[net_id] = after
            else:
                self._states.pop(net_id, None)
