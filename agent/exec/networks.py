"""A task's cluster networks on this host, through the engine facade.

Each cluster network a task is attached to (Task.networks, a copy of the
Network with the subnet and VNI the manager's allocator chose) is backed by
a local engine network labelled LABEL_NETWORK_ID = <cluster network id>,
found again by that label and created on demand: an overlay network
(overlays.py) when its driver is overlay, else a bridge with the cluster
network's subnet and gateway; it is named after the cluster network (a name
taken by something else gets the id appended). The container joins it with
the allocator's address and with the service name, `tasks.<service>` and
the attachment's aliases as DNS aliases (until the network's service
records arrive, which then answer those names, with the VIP). A task on
overlays only also joins the gateway bridge (GWBRIDGE, Docker's
docker_gwbridge: a local bridge out of the DNS) for its default route,
egress NAT and host-mode published ports, unless all its networks are
internal.

NetworkStates (the manager's view of each network, dispatcher.proto) come
from the Worker, latest per network; after each change the agent applies
them all in the background, in order: overlays.program for every overlay
here (peers, remote endpoints, service records), mesh.sync for the
ingress network (this host's endpoint and the published ports), then
release: a backing network that no created or running container uses is
removed, except the ingress overlay while the mesh needs it.

One lock serialises network creation + container creation, state
application and removal, so a network is never removed between a
container's creation and its start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

from shoal.agent.exec import mesh, overlays
from shoal.agent.exec.containerspec import LABEL_NETWORK_ID, LABEL_NODE_ID
from shoal.engine.errors import EngineError, NotFound
from shoal.engine.network.model import DNS_OPTION
from shoal.proto.shoal.v1.dispatcher_pb2 import NetworkState
from shoal.proto.shoal.v1.objects_pb2 import Network, NetworkAttachment, Task

log = logging.getLogger(__name__)
Attachment = tuple[str, list[str], str]  # local network name, DNS aliases, IPv4 ("" = any)
GWBRIDGE = "shoal_gwbridge"
LABEL_GWBRIDGE = "com.shoal.gwbridge"
_LIVE = ("created", "running", "restarting")


def aliases(task: Task, att: NetworkAttachment) -> list[str]:
    """Return the DNS aliases of the task's container on one network."""
    service = task.service_annotations.name
    names = [service, f"tasks.{service}"] if service else []
    return list(dict.fromkeys([*names, *att.aliases]))


def addresses(task: Task) -> list[str]:
    """Return the task's addresses on its networks (no prefix)."""
    return [a for att in task.networks if (a := _address(att))]


def needs_gateway(task: Task) -> bool:
    """Tell whether TASK needs the gateway bridge: on an overlay, with no network that
    routes out (an overlay does not), and not on internal networks only."""
    nets = [a.network for a in task.networks if a.network.id]
    return (any(overlays.is_overlay(n) for n in nets)
            and not any(not overlays.is_overlay(n) and not n.spec.internal for n in nets)
            and not all(n.spec.internal for n in nets))


def _address(att: NetworkAttachment) -> str:
    for cidr in att.addresses:
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_interface(cidr).ip)
    return ""


class TaskNetworks:
    """This host's side of cluster networks and the routing mesh, for ENGINE's tasks."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.lock = asyncio.Lock()
        self.states: dict[str, NetworkState] = {}  # network id -> latest state
        self._leaving: dict[str, list[str]] = {}  # task being stopped -> its addresses
        self._job: asyncio.Task[None] | None = None
        self._again = False

    # ---- containers -------------------------------------------------------------------
    async def create_container(self, task: Task, create: Any) -> None:
        """Ensure the task's backing networks, then run CREATE(attachments) under the lock."""
        async with self.lock:
            if any(att.network.id for att in task.networks):
                atts = await asyncio.to_thread(self._ensure_all, task, self._users())
            else:
                atts = []
            await create(atts)

    def _ensure_all(self, task: Task, used: set[str]) -> list[Attachment]:
        out: list[Attachment] = []
        last: list[Attachment] = []  # the ingress network: never the primary one
        for att in task.networks:
            net = att.network
            if not net.id:
                continue
            name = self._ensure(net, used)
            state = self.states.get(net.id)
            if overlays.is_overlay(net) and state is not None:
                overlays.program(self.engine.networks, state, self._leaving_ips())
            item = (name, [] if net.spec.ingress else aliases(task, att), _address(att))
            (last if net.spec.ingress else out).append(item)
        if needs_gateway(task):
            last.append((self._gwbridge(), [], ""))
        return out + last

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
        if overlays.is_overlay(net):
            return overlays.create(nets, net, name)
        subnet, gateway = overlays.subnet_of(net)
        n = nets.create(name, "bridge", subnet, gateway, internal=net.spec.internal,
                        attachable=True, labels={LABEL_NETWORK_ID: net.id})
        return str(n.name)

    def _gwbridge(self) -> str:
        """Return the gateway bridge's name, creating it if needed."""
        nets = self.engine.networks
        found = nets.list({"label": [LABEL_GWBRIDGE]})
        if found:
            return str(found[0]["Name"])
        n = nets.create(GWBRIDGE, "bridge", labels={LABEL_GWBRIDGE: "true"},
                        options={DNS_OPTION: "false"})
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
        ingress = self._ingress()
        mesh.sync(nets, ingress, self._leaving_ips())
        keep = ingress.network_id if mesh.needs_overlay(ingress) and ingress else ""
        for label in (LABEL_NETWORK_ID, LABEL_GWBRIDGE):
            for n in nets.list({"label": [label]}):
                if n["Containers"] or n["Name"] in used or n["Id"] in used or n["Id"] == keep:
                    continue
                with contextlib.suppress(EngineError):
                    nets.remove(n["Id"])

    # ---- network states ---------------------------------------------------------------
    def network_states(self, states: Mapping[str, NetworkState]) -> None:
        """Take the latest states (by network id) and apply them in the background."""
        self.states = dict(states)
        self.schedule()

    def schedule(self) -> None:
        """Apply the states again soon (once more if an application is running)."""
        if self._job is None or self._job.done():
            self._job = asyncio.create_task(self._apply_loop(), name="agent-network-states")
        else:
            self._again = True

    async def _apply_loop(self) -> None:
        while True:
            self._again = False
            try:
                await self.apply()
            except Exception:
                log.exception("applying network states failed")
            if not self._again:
                return

    async def apply(self) -> None:
        """Make this host's networks match the states now."""
        async with self.lock:
            await asyncio.to_thread(self._apply, self._users())

    def _apply(self, used: set[str]) -> None:
        nets = self.engine.networks
        ingress = self._ingress()
        if ingress is not None and mesh.needs_overlay(ingress):
            try:
                self._ensure(ingress.network, used)
            except EngineError as exc:
                log.warning("ingress network not made here: %s", exc)
        leaving = self._leaving_ips()
        for state in list(self.states.values()):
            overlays.program(nets, state, leaving)
        self._release(used)

    def _ingress(self) -> NetworkState | None:
        return next((s for s in self.states.values() if s.network.spec.ingress), None)

    async def stop(self) -> None:
        """Let a running application end, and apply nothing more."""
        job, self._job = self._job, None
        if job is not None:
            with contextlib.suppress(Exception):
                await job

    # ---- tasks being stopped ----------------------------------------------------------
    def _leaving_ips(self) -> set[str]:
        return {ip for ips in self._leaving.values() for ip in ips}

    async def leaving(self, task: Task) -> None:
        """Give TASK's addresses no new connection (it is being stopped), at once."""
        ips = addresses(task)
        if ips and self._leaving.get(task.id) != ips:
            self._leaving[task.id] = ips
            if self.states:
                await self.apply()

    def forget(self, task: Task) -> None:
        """Forget TASK (removed): the manager's states no longer list its addresses."""
        self._leaving.pop(task.id, None)


async def leave_cluster(engine: Any, node_id: str) -> None:
    """Remove what the cluster left on this host, as dockerd does on `swarm leave`.

    The node's task containers (label com.docker.swarm.node.id = NODE_ID), the
    ingress ports and mesh endpoint, and the backing networks (the gateway
    bridge too) nothing uses any more.
    """
    for c in engine.containers.list(all=True):
        if node_id and (c.Config.get("Labels") or {}).get(LABEL_NODE_ID) == node_id:
            with contextlib.suppress(EngineError):
                await engine.containers.remove(c.Id, force=True)
    await TaskNetworks(engine).release()
