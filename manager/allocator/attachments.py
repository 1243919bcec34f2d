"""The allocator loop (leader only): task addresses, service VIPs, node ingress addresses.

What it writes, as SwarmKit's allocator does:

- Tasks: the orchestrators write a task that uses a cluster network, or
  publishes a port in ingress mode, with status NEW (orchestrator/tasks.py).
  This loop attaches it to the ingress network when it publishes ingress
  ports, gives every attachment an address from its network's pool
  (`NetworkAttachment.addresses`, CIDR), and moves it to PENDING for the
  scheduler. A task that cannot get an address stays NEW with `status.err`
  saying why, and is retried when an address is released.
- Services: endpoint mode vip gets one VIP per attached network
  (`Service.endpoint.virtual_ips`), plus one on ingress when it publishes
  ingress ports; VIPs of networks it left are released.
- Nodes: every READY node gets an address on the ingress network
  (`Node.attachments`), which the routing mesh uses as the node's own
  endpoint there.

Addresses are released when their holder is deleted from the store (the
task reaper deletes tasks), and a task's as soon as it is dead — desired
state and observed state both past RUNNING, as in SwarmKit — so that the
history the reaper keeps (five tasks per slot by default) does not hold
addresses. An ORPHANED task (its node went down) keeps its address until it
is deleted: its container may still run on a host cut off from the cluster.
Pools remember each address's holder and ignore a release by anyone else,
so hearing of a holder's end twice is harmless; an address a write gives up
is released only once the write succeeded. Pools are rebuilt from the store
whenever the loop resyncs (each leader term starts with one), so a new leader
never hands out an address a live task holds. The ingress network is made
at the start of each term if missing (ingress.py).
"""

from __future__ import annotations

import logging
from typing import Any

from shoal.manager.allocator.addresses import AddressSpace
from shoal.manager.allocator.ingress import ensure_ingress, find_ingress
from shoal.manager.allocator.networks import AllocationError, NetworkAllocator
from shoal.manager.orchestrator.loop import LoopConfig, Reconciler
from shoal.manager.store import Action, Event, Store, Update
from shoal.proto.shoal.v1 import types_pb2
from shoal.proto.shoal.v1.objects_pb2 import Network, Node, NodeStatus, Service, Task
from shoal.proto.shoal.v1.specs_pb2 import EndpointSpec

log = logging.getLogger(__name__)

NEW = types_pb2.NEW
PENDING = types_pb2.PENDING
INGRESS = types_pb2.PortConfig.INGRESS
PENDING_MESSAGE = "pending task scheduling"


def dead(task: Any) -> bool:
    """Return whether TASK's addresses can go back to the pools (it stopped for good)."""
    state = int(task.status.state)
    return (int(task.desired_state) > types_pb2.RUNNING and state > types_pb2.RUNNING
            and state != types_pb2.ORPHANED)


def publishes_ingress(endpoint: Any) -> bool:
    """Return whether ENDPOINT (an allocated Endpoint) publishes a port in ingress mode."""
    return any(p.publish_mode == INGRESS for p in endpoint.ports)


class Allocator(Reconciler):
    """Gives addresses to tasks, VIPs to services and ingress addresses to nodes."""

    kinds = (Network, Task, Service, Node)
    name = "allocator"

    def __init__(self, store: Store, config: LoopConfig | None = None,
                 networks: NetworkAllocator | None = None) -> None:
        super().__init__(store, config or LoopConfig(debounce=0.01))
        self.networks = networks or NetworkAllocator()
        self.space = AddressSpace()
        self._everything = True
        self._tasks: set[str] = set()
        self._services: set[str] = set()
        self._nodes: set[str] = set()
        self._blocked: set[str] = set()  # NEW tasks waiting for a free address
        # the ingress network is made once per term: a user may remove it on
        # purpose (to make another with `network create --ingress`)
        self._ingress_checked = False
        self.allocated = 0  # tasks moved to PENDING (tests read it)

    # Reconciler hooks.

    def resync(self) -> None:
        self._everything = True

    def wants(self, event: Event) -> bool:
        obj: Any = event.obj
        if event.kind == "tasks":
            if event.action == Action.DELETE:
                return bool(obj.networks)
            old: Any = event.old
            return int(obj.status.state) == NEW or (
                bool(obj.networks) and dead(obj) and (old is None or not dead(old)))
        return True

    def handle(self, event: Event) -> None:
        obj: Any = event.obj
        deleted = event.action == Action.DELETE
        if event.kind == "tasks":
            if deleted or dead(obj):
                self._release_attachments(obj.networks, obj.id)
            else:
                self._tasks.add(obj.id)
        elif event.kind == "services":
            if deleted:
                for vip in obj.endpoint.virtual_ips:
                    self._release(vip.network_id, vip.addr, obj.id)
            else:
                self._services.add(obj.id)
        elif event.kind == "nodes":
            if deleted:
                self._release_attachments(obj.attachments, obj.id)
            else:
                self._nodes.add(obj.id)
        elif event.kind == "networks":
            if deleted:
                self.space.forget(obj.id)
            old: Any = event.old
            if deleted or obj.spec.ingress or (old is not None and old.spec.ingress):
                self._everything = True  # services and nodes follow the ingress network

    def has_work(self) -> bool:
        return self._everything or bool(self._tasks or self._services or self._nodes)

    async def tick(self) -> None:
        cache = self.store.cache
        if self._everything:
            self._everything = False
            if not self._ingress_checked:
                await ensure_ingress(self.store, self.networks)
                self._ingress_checked = True
            live = [t for t in cache.list(Task, copy=False) if not dead(t)]
            self.space.rebuild(cache.list(Network, copy=False), live,
                               cache.list(Service, copy=False), cache.list(Node, copy=False))
            self._tasks = {t.id for t in cache.list(Task, copy=False) if int(t.status.state) == NEW}
            self._services = {s.id for s in cache.list(Service, copy=False)}
            self._nodes = {n.id for n in cache.list(Node, copy=False)}
            self._blocked.clear()
        networks = cache.list(Network, copy=False)
        ingress = find_ingress(networks)
        by_id = {n.id: n for n in networks if not n.pending_delete}
        by_name = {n.spec.annotations.name: n for n in by_id.values()}
        ops: list[Any] = []
        # addresses each op takes (released if it fails) and gives up (if it succeeds)
        held: list[tuple[list[tuple[str, str]], list[tuple[str, str]]]] = []
        ids: list[tuple[set[str], str]] = []
        for kind, todo, build in (
            (Service, self._services,
             lambda o, h, f: self._alloc_service(o, h, f, ingress, by_id, by_name)),
            (Node, self._nodes, lambda o, h, f: self._alloc_node(o, h, f, ingress, by_id)),
            (Task, self._tasks, lambda o, h, f: self._alloc_task(o, h, ingress, by_id)),
        ):
            batch = sorted(todo)
            todo.clear()
            for obj_id in batch:
                obj: Any = cache.get(kind, obj_id)
                if obj is None:
                    continue
                taken: list[tuple[str, str]] = []
                freed: list[tuple[str, str]] = []
                if build(obj, taken, freed):
                    ops.append(Update(obj))
                    held.append((taken, freed))
                    ids.append((todo, obj_id))
        if not ops:
            return
        result = await self.write(ops)
        for i, (_, freed) in enumerate(held):
            if i not in result.errors:
                for network_id, cidr in freed:
                    self._release(network_id, cidr, ids[i][1])
        for i, err in result.errors.items():
            for network_id, cidr in held[i][0]:
                self._release(network_id, cidr, ids[i][1])
            todo, obj_id = ids[i]
            todo.add(obj_id)  # try again on the newer version
            log.debug("allocator: writing %s failed: %s", obj_id, err)
        self.allocated += sum(1 for i, op in enumerate(ops)
                              if i not in result.errors and isinstance(op.obj, Task))

    # One object each: edit OBJ (a copy) and return whether to write it.

    def _alloc_service(self, svc: Any, taken: list[tuple[str, str]],
                       freed: list[tuple[str, str]], ingress: Any,
                       by_id: dict[str, Any], by_name: dict[str, Any]) -> bool:
        if svc.pending_delete:
            return False  # its VIPs go when it is deleted
        wanted: list[Any] = []
        if svc.spec.endpoint.mode == EndpointSpec.VIP:
            for na in list(svc.spec.task.networks) or list(svc.spec.networks):
                net = by_id.get(na.target) or by_name.get(na.target)
                if net is not None and net not in wanted:
                    wanted.append(net)
            if ingress is not None and publishes_ingress(svc.endpoint):
                wanted.append(ingress)
        want_ids = {n.id for n in wanted}
        have = {v.network_id: v.addr for v in svc.endpoint.virtual_ips}
        if set(have) == want_ids:
            return False
        for network_id, addr in have.items():
            if network_id not in want_ids:
                freed.append((network_id, addr))
        del svc.endpoint.virtual_ips[:]
        for net in wanted:
            addr = have.get(net.id)
            if addr is None:
                try:
                    addr = self.space.allocate(net, svc.id)
                except AllocationError as exc:
                    log.warning("service %s: no VIP: %s", svc.spec.annotations.name, exc)
                    continue
                taken.append((net.id, addr))
            svc.endpoint.virtual_ips.add(network_id=net.id, addr=addr)
        return True

    def _alloc_node(self, node: Any, taken: list[tuple[str, str]],
                    freed: list[tuple[str, str]], ingress: Any, by_id: dict[str, Any]) -> bool:
        changed = False
        for i in reversed(range(len(node.attachments))):
            a = node.attachments[i]
            if a.network.id not in by_id:  # its network is gone
                freed.extend((a.network.id, cidr) for cidr in a.addresses)
                del node.attachments[i]
                changed = True
        ready = int(node.status.state) == NodeStatus.READY
        if ingress is None or not ready or any(a.network.id == ingress.id
                                               for a in node.attachments):
            return changed
        try:
            addr = self.space.allocate(ingress, node.id)
        except AllocationError as exc:
            log.warning("node %s: no ingress address: %s", node.id[:12], exc)
            return changed
        taken.append((ingress.id, addr))
        a = node.attachments.add()
        a.network.CopyFrom(ingress)
        a.addresses.append(addr)
        return True

    def _alloc_task(self, task: Any, taken: list[tuple[str, str]], ingress: Any,
                    by_id: dict[str, Any]) -> bool:
        if int(task.status.state) != NEW or int(task.desired_state) > types_pb2.RUNNING:
            return False
        if (ingress is not None and publishes_ingress(task.endpoint)
                and not any(a.network.id == ingress.id for a in task.networks)):
            task.networks.add().network.CopyFrom(ingress)
        try:
            for a in task.networks:
                net = by_id.get(a.network.id)
                if a.addresses or net is None:
                    continue
                addr = self.space.allocate(net, task.id)
                taken.append((net.id, addr))
                a.addresses.append(addr)
        except AllocationError as exc:
            for network_id, cidr in taken:
                self._release(network_id, cidr, task.id)
            taken.clear()
            self._blocked.add(task.id)
            message = f"could not allocate an address: {exc}"
            if task.status.err == message:
                return False
            fresh: Any = self.store.cache.get(Task, task.id)
            task.CopyFrom(fresh)
            task.status.err = message
            return True
        task.status.state = PENDING
        task.status.message = PENDING_MESSAGE
        task.status.err = ""
        task.status.timestamp.GetCurrentTime()
        return True

    # Releasing.

    def _release(self, network_id: str, cidr: str, owner: str) -> None:
        self.space.release(network_id, cidr, owner)
        if self._blocked:  # an address came free: waiting tasks may fit now
            self._tasks |= self._blocked
            self._blocked.clear()

    def _release_attachments(self, attachments: Any, owner: str) -> None:
        for a in attachments:
            for cidr in a.addresses:
                self._release(a.network.id, cidr, owner)
