"""The routing mesh on this host, from the ingress network's NetworkState.

While the ingress state lists published ports (IngressPort: a service's
published port, its target port and the ingress addresses of its running
tasks on every host), this host takes part in the ingress overlay even
without a task on it: the agent makes the overlay (overlays.py), gives the
host its node address there (NetworkState.local_address, NetworkService.
set_mesh) and publishes every port with the tasks' addresses as backends
(NetworkService.set_service_ports): a connection to the port on any
address of this host goes to one of them, here or on another host (the
engine's mesh.py). The sets are made to match the state whole: a service
missing from it loses its ports here (its port is free for the next one,
`stack rm` then `stack deploy`), and with no port at all the host's
endpoint goes (and the overlay, once no container uses it). Addresses of
tasks being stopped here (LEAVING) get no new connections.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from shoal.agent.exec import overlays
from shoal.engine.errors import EngineError
from shoal.proto.shoal.v1.dispatcher_pb2 import NetworkState
from shoal.proto.shoal.v1.types_pb2 import PortConfig

log = logging.getLogger(__name__)
PROTOCOLS = {PortConfig.TCP: "tcp", PortConfig.UDP: "udp"}
PortSet = tuple[list[tuple[str, int, int]], list[str]]  # [(proto, published, target)], backends


def wanted(state: NetworkState | None, leaving: Iterable[str] = ()) -> dict[str, PortSet]:
    """Return the ingress port sets STATE asks for, by service id."""
    out: dict[str, PortSet] = {}
    gone = set(leaving)
    for p in state.ingress_ports if state is not None else ():
        if p.protocol not in PROTOCOLS or not p.published_port or not p.target_port:
            continue
        ports, backends = out.setdefault(p.service_id, ([], []))
        ports.append((PROTOCOLS[p.protocol], int(p.published_port), int(p.target_port)))
        backends.extend(ip for ip in p.backends if ip not in gone and ip not in backends)
    return out


def needs_overlay(state: NetworkState | None) -> bool:
    """Tell whether STATE asks this host to take part in the ingress network."""
    return bool(state is not None and state.local_address and wanted(state))


def sync(nets: Any, state: NetworkState | None, leaving: Iterable[str] = ()) -> list[str]:
    """Make this host's mesh endpoint and service ports match the ingress STATE (None: no
    ingress network); return what failed (logged)."""
    problems: list[str] = []
    want = wanted(state, leaving)
    n = overlays.local(nets, state.network_id) if state is not None else None
    mesh_ok = False
    if n is not None and state is not None:
        try:
            if needs_overlay(state):
                nets.set_mesh(state.network_id, state.local_address)
                mesh_ok = True
            elif n.mesh_address:
                nets.remove_mesh(state.network_id)
        except EngineError as exc:
            problems.append(f"mesh endpoint {state.local_address}: {exc}")
    if not mesh_ok:
        want = {}  # no way to the backends from here
    published = nets.service_ports()
    for sid in sorted(set(published) - set(want)):
        try:
            nets.remove_service_ports(sid)
        except EngineError as exc:
            problems.append(f"service {sid}: {exc}")
    for sid, (ports, backends) in sorted(want.items()):
        have = published.get(sid)
        if have is not None and [tuple(p) for p in have["Ports"]] == ports \
                and have["Backends"] == backends:
            continue
        try:
            nets.set_service_ports(sid, ports, backends)
        except EngineError as exc:
            problems.append(f"service {sid}: ingress ports {ports} not published: {exc}")
    for p in problems:
        log.warning("routing mesh: %s", p)
    return problems
