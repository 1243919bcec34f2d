"""Cluster overlay networks on this host: the engine's overlay, programmed from NetworkStates.

A cluster network with the overlay driver and a VNI (the manager's
allocator gives both) is backed here by the engine's overlay
(NetworkService.create_overlay: a VXLAN device in a namespace of its own,
one macvlan per container), created with the cluster network's id, name,
VNI, subnet and gateway and labelled LABEL_NETWORK_ID = <id> like every
backing network. Containers join it with the allocator's address, so the
same address is the task's on every host.

`program` makes the overlay match the network's latest NetworkState
(dispatcher.proto), by differences, so running it again changes nothing:
the peers' VTEPs (add_peer / remove_peer), the endpoints on other hosts
(add_endpoint / remove_endpoint: FDB and neighbour entries), and, except on
the ingress network, the service records (set_service_records: the names
the embedded DNS answers and the VIPs every container here balances). The
task addresses of tasks being stopped on this host (LEAVING) are left out
of the records at once, before the manager's next state says so.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

from shoal.agent.exec.containerspec import LABEL_NETWORK_ID
from shoal.engine.errors import EngineError, NotFound
from shoal.engine.network.model import DNS_OPTION
from shoal.proto.shoal.v1.dispatcher_pb2 import NetworkState
from shoal.proto.shoal.v1.objects_pb2 import Network

log = logging.getLogger(__name__)
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
LABEL_INGRESS = "com.shoal.cluster.network.ingress"  # on the ingress network's backing


def vni_of(net: Network) -> int:
    """Return the VNI the allocator gave NET (0: none)."""
    for opts in (net.driver_state.options, net.spec.driver_config.options):
        text = opts.get(VNI_OPTION, "").split(",")[0].strip()
        if text.isdigit():
            return int(text)
    return 0


def is_overlay(net: Network) -> bool:
    """Tell whether NET is backed by the engine's overlay here (overlay driver and a VNI)."""
    driver = net.driver_state.name or net.spec.driver_config.name or "overlay"
    return driver == "overlay" and vni_of(net) > 0


def subnet_of(net: Network) -> tuple[str | None, str | None]:
    """Return NET's (subnet, gateway) as allocated (else as asked; None: not given)."""
    ipam = net.ipam if net.ipam.configs else net.spec.ipam
    if not ipam.configs:
        return None, None
    cfg = ipam.configs[0]
    return cfg.subnet or None, cfg.gateway or None


def create(nets: Any, net: Network, name: str) -> str:
    """Create NET's overlay here under local NAME; return the name."""
    subnet, gateway = subnet_of(net)
    if subnet is None:
        raise EngineError(f"network {net.spec.annotations.name}: no subnet allocated")
    labels = {LABEL_NETWORK_ID: net.id}
    options = {}
    if net.spec.ingress:  # no names on the ingress network (as Docker's)
        labels[LABEL_INGRESS] = "true"
        options[DNS_OPTION] = "false"
    n = nets.create_overlay(name, vni_of(net), subnet, gateway, labels=labels,
                            options=options, network_id=net.id)
    return str(n.name)


def local(nets: Any, network_id: str) -> Any | None:
    """Return the engine's overlay backing NETWORK_ID here, or None."""
    with contextlib.suppress(NotFound):
        n = nets.get(network_id)
        if n.driver == "overlay" and n.labels.get(LABEL_NETWORK_ID) == network_id:
            return n
    return None


def records(state: NetworkState, leaving: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Return STATE's service records as set_service_records takes them, minus LEAVING."""
    gone = set(leaving)
    return [{"name": r.name, "vip": r.vip, "aliases": list(r.aliases),
             "task_ips": [ip for ip in r.task_ips if ip not in gone]}
            for r in state.services if r.name]


def program(nets: Any, state: NetworkState, leaving: Iterable[str] = ()) -> list[str]:
    """Make the local overlay of STATE's network match it; return what failed (logged)."""
    n = local(nets, state.network_id)
    if n is None:
        return []
    nid, problems = state.network_id, []

    def attempt(what: str, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except (EngineError, ValueError) as exc:
            problems.append(f"{what}: {exc}")

    want_peers = {p.addr for p in state.peers if p.addr}
    for vtep in sorted(set(n.peers) - want_peers):
        attempt(f"remove peer {vtep}", nets.remove_peer, nid, vtep)
    for vtep in sorted(want_peers - set(n.peers)):
        attempt(f"add peer {vtep}", nets.add_peer, nid, vtep)
    want = {e.ip: e for e in state.endpoints if _ipv4(e.ip) and e.node_addr}
    for ip, r in sorted(n.remote.items()):
        e = want.get(ip)
        if e is None or (e.mac or r["mac"]) != r["mac"] or e.node_addr != r["vtep"]:
            attempt(f"remove endpoint {ip}", nets.remove_endpoint, nid, ip)
    for ip, e in sorted(want.items()):
        if ip not in n.remote:
            attempt(f"add endpoint {ip}", nets.add_endpoint, nid, ip, e.mac or _mac(ip),
                    e.node_addr)
    if not state.network.spec.ingress:
        attempt("service records", nets.set_service_records, nid, records(state, leaving))
    for p in problems:
        log.warning("network %s: %s", n.name, p)
    return problems


def _ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _mac(ip: str) -> str:
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)
