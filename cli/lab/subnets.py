"""Address plan of a lab: one private /16 per lab, free on this machine and among labs.

The block comes from 10.224.0.0/11 (far from Docker's and shoal's default
pools, and from the cluster allocator's 10.0.0.0/8 walk that starts at
10.0.0.0), skipping any /16 that overlaps a route or address of the root
namespace or another lab's block — engine/network/ipam.pick_subnet does the
walk. Inside the block:

    10.B.0.0/24     the underlay; host I is 10.B.0.I, the registry 10.B.0.250,
                    the root namespace's address on the bridge 10.B.0.254
    10.B.I.0/24     host I's default bridge network (shoal0 in its netns); every
                    other host routes it via 10.B.0.I, so containers are reachable
                    across hosts without NAT
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from shoal.engine.network.errors import PoolExhausted
from shoal.engine.network.ipam import Pool, pick_subnet

from .errors import LabError
from .model import MAX_HOSTS

Net = ipaddress.IPv4Network
LAB_POOL = Pool("10.224.0.0/11", 16)
REGISTRY_HOST = 250
BRIDGE_HOST = 254


def used_networks() -> list[Net]:
    """Return the subnets the root namespace routes or holds addresses in."""
    from shoal.engine.network.netlink import Netlink

    with Netlink() as nl:
        nets = [r.dst for r in nl.routes() if r.dst.prefixlen > 0]
        nets += [i.network for _x, i in nl.addresses()]
    return nets


def pick_block(avoid: Iterable[Net]) -> Net:
    """Return the first /16 of the lab pool that overlaps nothing in AVOID."""
    try:
        return pick_subnet([LAB_POOL], avoid)
    except PoolExhausted as exc:
        raise LabError(f"no free /16 left in {LAB_POOL.base} for a lab: every one overlaps "
                       "a route of this machine or another lab") from exc


def underlay(block: Net) -> Net:
    """Return the underlay /24 of BLOCK."""
    return next(block.subnets(new_prefix=24))


def host_addr(block: Net, index: int) -> str:
    """Return host INDEX's underlay address (1-based)."""
    if not 1 <= index <= MAX_HOSTS:
        raise LabError(f"host index {index} is out of 1..{MAX_HOSTS}")
    return str(underlay(block).network_address + index)


def registry_addr(block: Net) -> str:
    return str(underlay(block).network_address + REGISTRY_HOST)


def bridge_addr(block: Net) -> str:
    return str(underlay(block).network_address + BRIDGE_HOST)


def host_bridge_subnet(block: Net, index: int) -> str:
    """Return the /24 of host INDEX's default bridge network."""
    return str(Net((int(block.network_address) + (index << 8), 24)))
