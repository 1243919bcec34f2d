"""What each node must know of one cluster network: its NetworkState (dispatcher.proto).

`network_states(net, tasks, services, nodes)` is pure: from the network, the
tasks attached to it, the services and the nodes (snapshots from the watch
cache) it returns one NetworkState per node taking part.

- A node takes part while it has a task on the network that is assigned and
  not terminal (ASSIGNED..RUNNING, whatever its desired state: a task being
  stopped still has its container on the network until it reports). Every
  READY node takes part in the ingress network.
- peers: the other nodes taking part, by the address they advertise
  (Node.status.addr), which is their VTEP on the underlay.
- endpoints: the addresses of the taking-part tasks on other nodes, and on
  the ingress network the other nodes' own addresses (Node.attachments);
  RemoteEndpoint.task_id is then the node id.
- services: every service with a VIP on the network or a task on it. Its
  task_ips are the tasks RUNNING with desired state RUNNING, on every host:
  a task being stopped drops out at once, a new one comes in once it runs.
- ingress_ports (ingress network): every port a service publishes in
  ingress mode, with its running tasks' ingress addresses as backends.
- local_address: the node's own attachment on the network ("" if none).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from shoal.manager.allocator.addresses import host_of, mac_of
from shoal.proto.shoal.v1 import types_pb2
from shoal.proto.shoal.v1.dispatcher_pb2 import (
    IngressPort,
    NetworkPeer,
    NetworkState,
    RemoteEndpoint,
    ServiceRecord,
)
from shoal.proto.shoal.v1.objects_pb2 import NodeStatus

ASSIGNED = types_pb2.ASSIGNED
RUNNING = types_pb2.RUNNING
READY = NodeStatus.READY
INGRESS = types_pb2.PortConfig.INGRESS


def attachment_on(obj: Any, network_id: str) -> Any:
    """Return the attachment of OBJ (task or node) on NETWORK_ID, or None."""
    if obj is None:
        return None
    found: Any = getattr(obj, "networks", None) or getattr(obj, "attachments", ())
    for a in found:
        if a.network.id == network_id:
            return a
    return None


def takes_part(task: Any) -> bool:
    """Return whether TASK keeps its node in its networks (assigned, not terminal)."""
    return bool(task.node_id) and ASSIGNED <= int(task.status.state) <= RUNNING


def serves(task: Any) -> bool:
    """Return whether TASK gets connections (running, and meant to)."""
    return int(task.status.state) == RUNNING and int(task.desired_state) == RUNNING


def _ip(task: Any, network_id: str) -> str:
    a = attachment_on(task, network_id)
    return host_of(a.addresses[0]) if a is not None and a.addresses else ""


def _records(net: Any, tasks: list[Any], services: Mapping[str, Any]) -> list[ServiceRecord]:
    by_service: dict[str, list[Any]] = {}
    for t in tasks:
        by_service.setdefault(t.service_id, []).append(t)
    for s in services.values():
        if any(v.network_id == net.id for v in s.endpoint.virtual_ips):
            by_service.setdefault(s.id, [])
    out = []
    for service_id in sorted(by_service):
        svc = services.get(service_id)
        if svc is None or svc.pending_delete:
            continue
        rec = ServiceRecord(service_id=service_id, name=svc.spec.annotations.name)
        for v in svc.endpoint.virtual_ips:
            if v.network_id == net.id:
                rec.vip = host_of(v.addr)
        ips = {ip for t in by_service[service_id] if serves(t) and (ip := _ip(t, net.id))}
        rec.task_ips.extend(sorted(ips, key=ipaddress.IPv4Address))
        aliases: set[str] = set()
        for t in by_service[service_id]:
            a = attachment_on(t, net.id)
            if a is not None:
                aliases.update(a.aliases)
        rec.aliases.extend(sorted(aliases))
        rec.ports.extend(svc.endpoint.ports)
        out.append(rec)
    return out


def _ingress_ports(records: list[ServiceRecord]) -> list[IngressPort]:
    out = []
    for rec in records:
        for p in rec.ports:
            if p.publish_mode == INGRESS and p.published_port:
                out.append(IngressPort(service_id=rec.service_id, protocol=p.protocol,
                                       published_port=p.published_port,
                                       target_port=p.target_port, backends=rec.task_ips))
    return out


def network_state_bytes(net: Any, tasks: Iterable[Any], services: Mapping[str, Any],
                        nodes: Mapping[str, Any]) -> dict[str, bytes]:
    """Return the serialized NetworkState of NET for every node taking part, by node id.

    Each node's state is most of the others' minus its own peer entry and
    endpoints, so the parts are serialized once and each node's message is
    their concatenation (concatenated protobuf encodings merge): building N
    states of E endpoints costs N joins instead of N x E message copies, and
    comparing with what a node was last sent is a bytes comparison.
    """
    tasks = [t for t in tasks if attachment_on(t, net.id) is not None]
    ingress = bool(net.spec.ingress)
    live = [t for t in tasks if takes_part(t)]
    members = {t.node_id for t in live}
    if ingress:
        members |= {n.id for n in nodes.values() if int(n.status.state) == READY}
    addr = {nid: nodes[nid].status.addr for nid in members if nid in nodes}
    # every address on the network, by the node that holds it
    owned: dict[str, list[tuple[ipaddress.IPv4Address, RemoteEndpoint]]] = {}
    for t in live:
        ip = _ip(t, net.id)
        if ip and addr.get(t.node_id):
            owned.setdefault(t.node_id, []).append((ipaddress.IPv4Address(ip), RemoteEndpoint(
                task_id=t.id, ip=ip, mac=mac_of(ip), node_addr=addr[t.node_id])))
    if ingress:
        for nid in members:
            a = attachment_on(nodes.get(nid), net.id)
            if a is not None and a.addresses and addr.get(nid):
                ip = host_of(a.addresses[0])
                owned.setdefault(nid, []).append((ipaddress.IPv4Address(ip), RemoteEndpoint(
                    task_id=nid, ip=ip, mac=mac_of(ip), node_addr=addr[nid])))
    blobs = {nid: NetworkState(endpoints=[e for _, e in sorted(eps, key=lambda x: x[0])])
             .SerializeToString(deterministic=True) for nid, eps in owned.items()}
    records = _records(net, tasks, services)
    ports = _ingress_ports(records) if ingress else []
    shared = NetworkState(network_id=net.id, network=net, services=records,
                          ingress_ports=ports).SerializeToString(deterministic=True)
    peers = [(nid, NetworkState(peers=[NetworkPeer(node_id=nid, addr=addr[nid])])
              .SerializeToString(deterministic=True)) for nid in sorted(addr) if addr[nid]]
    owners = sorted(blobs)
    out: dict[str, bytes] = {}
    for nid in members:
        parts = [shared]
        mine = attachment_on(nodes.get(nid), net.id)
        if mine is not None and mine.addresses:
            parts.append(NetworkState(local_address=mine.addresses[0]).SerializeToString())
        parts += [b for pid, b in peers if pid != nid]
        parts += [blobs[o] for o in owners if o != nid]
        out[nid] = b"".join(parts)
    return out


def network_states(net: Any, tasks: Iterable[Any], services: Mapping[str, Any],
                   nodes: Mapping[str, Any]) -> dict[str, NetworkState]:
    """Return the NetworkState of NET for every node taking part, by node id."""
    return {nid: NetworkState.FromString(b)
            for nid, b in network_state_bytes(net, tasks, services, nodes).items()}
