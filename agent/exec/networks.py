"""A task's cluster networks and ingress ports on this host, through the engine facade.

Networks: each cluster network a task is attached to (Task.networks, filled
by the orchestrator with a copy of the Network, its subnet and VNI chosen by
the manager's allocator) is backed on this host by a local engine network
labelled LABEL_NETWORK_ID = <cluster network id>, found again by that label
and created on demand: on one host a bridge with the cluster network's subnet
and gateway, named after the cluster network (a name taken by something else
gets the id appended). The task's container joins it with the service name,
`tasks.<service name>` and the attachment's aliases as DNS aliases, so the
embedded DNS answers a service name with every task's address (DNS round
robin; VIPs come with the allocator's next step). A backing network that no
created or running container uses any more is removed. Multi-host (later):
the same place will create the overlay's bridge + VXLAN device
(NetworkService.create_overlay with the VNI) and program peers.

Ingress ports: the ports a service publishes in ingress mode answer on this
host and are spread over the service's running containers here
(NetworkService.set_service_ports); the sets are recomputed after each step
of a task that publishes ports, and a service with no running container here
(its containers stopping or gone) publishes nothing, so its ports are free
for the next service (`stack rm` then `stack deploy`).

One lock serialises network creation + container creation against removal,
so a network is never removed between a container's creation and its start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from typing import Any

from shoal.agent.exec.containerspec import (
    LABEL_NETWORK_ID,
    LABEL_NODE_ID,
    LABEL_SERVICE_ID,
    LABEL_TASK_ID,
)
from shoal.engine.errors import EngineError, NotFound
from shoal.proto.shoal.v1.objects_pb2 import Network, NetworkAttachment, Task
from shoal.proto.shoal.v1.types_pb2 import PortConfig

log = logging.getLogger(__name__)
Attachment = tuple[str, list[str], str]  # local network name, DNS aliases, IPv4 ("" = any)
_PROTOCOLS = {PortConfig.TCP: "tcp", PortConfig.UDP: "udp"}
_LIVE = ("created", "running", "restarting")


def ingress_ports(task: Task) -> list[tuple[str, int, int]]:
    """Return the task's ingress-mode published ports as (proto, published, target)."""
    return [(_PROTOCOLS[p.protocol], int(p.published_port), int(p.target_port))
            for p in task.endpoint.ports
            if p.publish_mode == PortConfig.INGRESS and p.published_port and p.target_port
            and p.protocol in _PROTOCOLS]


def aliases(task: Task, att: NetworkAttachment) -> list[str]:
    """Return the DNS aliases of the task's container on one network."""
    service = task.service_annotations.name
    names = [service, f"tasks.{service}"] if service else []
    return list(dict.fromkeys([*names, *att.aliases]))


def _address(att: NetworkAttachment) -> str:
    for cidr in att.addresses:
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_interface(cidr).ip)
    return ""


def _subnet(net: Network) -> tuple[str | None, str | None]:
    ipam = net.ipam if net.ipam.configs else net.spec.ipam
    if not ipam.configs:
        return None, None
    cfg = ipam.configs[0]
    return cfg.subnet or None, cfg.gateway or None


class TaskNetworks:
    """This host's side of cluster networks and ingress ports, for ENGINE's tasks."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.lock = asyncio.Lock()
        self._tasks: dict[str, dict[str, Task]] = {}  # service id -> task id -> task
        self._leaving: set[str] = set()  # containers being stopped: no new connections

    # ---- networks ---------------------------------------------------------------------
    async def create_container(self, task: Task, create: Any) -> None:
        """Ensure the task's backing networks, then run CREATE(attachments) under the lock."""
        async with self.lock:
            if any(att.network.id for att in task.networks):
                atts = await asyncio.to_thread(self._ensure_all, task, self._users())
            else:
                atts = []
            await create(atts)

    def _ensure_all(self, task: Task, used: set[str]) -> list[Attachment]:
        out = []
        for att in task.networks:
            if att.network.id:
                out.append((self._ensure(att.network, used), aliases(task, att), _address(att)))
        return out

    def _ensure(self, net: Network, used: set[str]) -> str:
        """Return the name of the local network backing NET, creating it if needed."""
        nets = self.engine.networks
        found = nets.list({"label": [f"{LABEL_NETWORK_ID}={net.id}"]})
        if found:
            return str(found[0]["Name"])
        name = net.spec.annotations.name
        with contextlib.suppress(NotFound):
            other = nets.inspect(name)
            if other["Name"] == name:
                stale = other["Labels"].get(LABEL_NETWORK_ID) and not other["Containers"]
                if stale and not used.intersection({other["Name"], other["Id"]}):
                    nets.remove(other["Id"])  # backed a cluster network that is gone
                else:
                    name = f"{name}-{net.id[:12]}"
        subnet, gateway = _subnet(net)
        n = nets.create(name, "bridge", subnet, gateway, internal=net.spec.internal,
                        attachable=True, labels={LABEL_NETWORK_ID: net.id})
        return str(n.name)

    def _users(self) -> set[str]:
        """Return the networks (names or ids) that created or running containers name.

        Called on the event loop: the container service is not thread-safe.
        """
        used: set[str] = set()
        for c in self.engine.containers.list(all=True):
            if c.State.Status not in _LIVE:
                continue
            used.add(c.HostConfig.get("NetworkMode") or "")
            used.update(((c.NetworkingConfig or {}).get("EndpointsConfig") or {}).keys())
        return used

    async def release(self) -> None:
        """Remove the backing networks no created or running container uses."""
        async with self.lock:
            await asyncio.to_thread(self._release, self._users())

    def _release(self, used: set[str]) -> None:
        nets = self.engine.networks
        for n in nets.list({"label": [LABEL_NETWORK_ID]}):
            if n["Containers"] or n["Name"] in used or n["Id"] in used:
                continue
            with contextlib.suppress(EngineError):
                nets.remove(n["Id"])

    # ---- ingress ports ----------------------------------------------------------------
    def track(self, task: Task) -> None:
        """Remember TASK as one of its service's tasks on this host."""
        if task.service_id:
            self._tasks.setdefault(task.service_id, {})[task.id] = task

    def forget(self, task: Task) -> None:
        tasks = self._tasks.get(task.service_id)
        if tasks is not None:
            tasks.pop(task.id, None)
            if not tasks:
                del self._tasks[task.service_id]

    async def sync_ingress(self, task: Task, leaving: str = "") -> None:
        """Make the ingress ports here match the services' running containers.

        LEAVING is a container about to be stopped: it gets no new connections.
        Every service is looked at, not only TASK's: a port that a removed
        service held passes to the service that publishes it now.
        """
        published = self.engine.networks.service_ports()
        if not ingress_ports(task) and task.service_id not in published:
            return
        async with self.lock:
            if leaving:
                self._leaving.add(leaving)
            running: dict[str, list[tuple[str, str]]] = {}  # service -> (container, task)
            for c in self.engine.containers.list(all=True):  # on the loop: not thread-safe
                labels = c.Config.get("Labels") or {}
                if labels.get(LABEL_SERVICE_ID) and c.running:
                    running.setdefault(labels[LABEL_SERVICE_ID], []).append(
                        (c.Id, labels.get(LABEL_TASK_ID, "")))
            await asyncio.to_thread(self._sync, published, running)

    def _sync(self, published: dict[str, Any], running: dict[str, list[tuple[str, str]]]) -> None:
        nets = self.engine.networks
        self._leaving &= {cid for cs in running.values() for cid, _t in cs}
        want: dict[str, tuple[list[tuple[str, int, int]], list[str]]] = {}
        for sid in set(published) | set(self._tasks):
            backends = [(cid, tid) for cid, tid in running.get(sid, [])
                        if cid not in self._leaving]
            if not backends:
                continue  # nothing serves it here: free the port (a new service may need it)
            live = {tid for _cid, tid in backends}
            tasks = sorted(self._tasks.get(sid, {}).values(),
                           key=lambda t: (t.id in live, int(t.spec_version.index),
                                          t.meta.created_at.seconds))
            if tasks:
                ports = ingress_ports(tasks[-1])
            else:  # not known yet (the agent is resuming): keep what is published
                ports = [(str(p), int(q), int(t)) for p, q, t in published[sid]["Ports"]]
            if ports:
                want[sid] = (ports, [cid for cid, _tid in backends])
        for sid in set(published) - set(want):
            nets.remove_service_ports(sid)
        for sid, (ports, ids) in want.items():
            try:
                nets.set_service_ports(sid, ports, ids)
            except EngineError as exc:
                log.warning("service %s: ingress ports %s not published: %s", sid, ports, exc)


async def leave_cluster(engine: Any, node_id: str) -> None:
    """Remove what the cluster left on this host, as dockerd does on `swarm leave`.

    The node's task containers (label com.docker.swarm.node.id = NODE_ID), the
    ingress ports, and the backing networks nothing uses any more.
    """
    for c in engine.containers.list(all=True):
        if node_id and (c.Config.get("Labels") or {}).get(LABEL_NODE_ID) == node_id:
            with contextlib.suppress(EngineError):
                await engine.containers.remove(c.Id, force=True)
    for sid in engine.networks.service_ports():
        await asyncio.to_thread(engine.networks.remove_service_ports, sid)
    await TaskNetworks(engine).release()
