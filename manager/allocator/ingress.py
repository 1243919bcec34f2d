"""The `ingress` network of the routing mesh, made by the leader when it is missing.

As Docker's: named `ingress`, overlay, `spec.ingress` set, subnet 10.0.0.0/24
unless another cluster network or a route of this host holds it (then the
subnet allocator picks one), VXLAN id 4096 unless taken. Every service that
publishes a port in ingress mode is attached to it (attachments.py) and every
ready node gets an address on it (Node.attachments). A user who removed it
may create another with `network create --ingress`; the leader only makes
one when no ingress network exists at all.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from shoal.manager.allocator.networks import VNI_OPTION, NetworkAllocator, subnets_of, vni_of
from shoal.manager.store import AlreadyExists, Store
from shoal.proto.shoal.v1 import objects_pb2

log = logging.getLogger(__name__)

INGRESS_NAME = "ingress"
INGRESS_SUBNET = "10.0.0.0/24"
INGRESS_VNI = 4096


def find_ingress(networks: Any) -> Any:
    """Return the ingress network among NETWORKS (not pending deletion), or None."""
    for n in networks:
        if n.spec.ingress and not n.pending_delete:
            return n
    return None


def ingress_network(others: list[Any], allocator: NetworkAllocator) -> objects_pb2.Network:
    """Return a new ingress Network with its subnet and VNI chosen (not stored)."""
    net = objects_pb2.Network()
    net.spec.annotations.name = INGRESS_NAME
    net.spec.annotations.labels["com.docker.swarm.internal"] = "true"
    net.spec.driver_config.name = "overlay"
    net.spec.ingress = True
    wanted = ipaddress.IPv4Network(INGRESS_SUBNET)
    taken = [s for o in others for s in subnets_of(o)] + allocator.routes()
    if not any(wanted.overlaps(s) for s in taken):
        net.spec.ipam.configs.add(subnet=INGRESS_SUBNET, gateway="10.0.0.1")
    if INGRESS_VNI not in {vni_of(o) for o in others}:
        net.spec.driver_config.options[VNI_OPTION] = str(INGRESS_VNI)
    allocator.allocate(net, others)
    return net


async def ensure_ingress(store: Store, allocator: NetworkAllocator | None = None) -> Any:
    """Create the ingress network unless one exists; return it (or the existing one)."""
    networks = store.list(objects_pb2.Network, copy=False)
    existing = find_ingress(networks)
    if existing is not None:
        return existing
    if any(n.spec.annotations.name == INGRESS_NAME for n in networks):
        log.warning("a network named %r exists but is not the ingress network: "
                    "no routing mesh", INGRESS_NAME)
        return None
    net = ingress_network(list(networks), allocator or NetworkAllocator())
    try:
        created = await store.create(net)
    except AlreadyExists:
        return find_ingress(store.list(objects_pb2.Network, copy=False))
    await store.wait_for(int(created.meta.version.index))
    log.info("created the ingress network %s (%s, VNI %d)", created.id[:12],
             created.ipam.configs[0].subnet, vni_of(created))
    return created
