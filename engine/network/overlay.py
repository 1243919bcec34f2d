"""The overlay driver's kernel side: a bridge plus a VXLAN device, programmed by hand.

No multicast and no learning: the manager tells each host its peers' VTEP
addresses (an all-zero FDB entry per peer carries broadcast, unknown unicast
and multicast to every peer) and every remote endpoint (a per-MAC FDB entry
sends its frames to the right VTEP; a permanent neighbour entry lets the
VXLAN device answer ARP for it locally, the device being in ARP-proxy mode).
"""

from __future__ import annotations

import errno
import ipaddress

from shoal.engine.network import bridge
from shoal.engine.network.errors import NetworkSystemError
from shoal.engine.network.netlink import Netlink

VXLAN_PORT = 4789
VXLAN_OVERHEAD = 50
BUM = "00:00:00:00:00:00"


def underlay_mtu(nl: Netlink) -> int:
    """Return the MTU of the interface holding the default route (1500 if none)."""
    by_index = {lk.index: lk for lk in nl.links()}
    for r in nl.routes():
        if r.dst.prefixlen == 0 and r.oif in by_index:
            return by_index[r.oif].mtu
    return 1500


def ensure(nl: Netlink, bridge_name: str, vxlan: str, vni: int, mtu: int,
           gateway: ipaddress.IPv4Interface | None, port: int = VXLAN_PORT) -> None:
    """Make the overlay's bridge and VXLAN device exist, enslaved and up."""
    br = bridge.ensure_bridge(nl, bridge_name, gateway, mtu, route_localnet=False)
    link = nl.link(vxlan)
    if link is None:
        nl.add_vxlan(vxlan, vni, port=port, mtu=mtu)
        link = nl.link(vxlan)
        assert link is not None
    if link.master != br or not link.up:
        nl.set_link(link.index, master=br, up=True)


def _ignore_exists(fn: object) -> None:
    try:
        fn()  # type: ignore[operator]
    except NetworkSystemError as exc:
        if exc.errno != errno.EEXIST:
            raise


def add_peer(nl: Netlink, vxlan: str, vtep: str) -> None:
    """Send broadcast / unknown-unicast / multicast frames to VTEP too."""
    idx = nl.index(vxlan)
    _ignore_exists(lambda: nl.fdb_add(idx, BUM, vtep, append=True))


def remove_peer(nl: Netlink, vxlan: str, vtep: str) -> None:
    """Stop flooding to VTEP."""
    nl.fdb_delete(nl.index(vxlan), BUM, vtep)


def add_remote(nl: Netlink, vxlan: str, ip: str, mac: str, vtep: str) -> None:
    """Reach the remote endpoint IP/MAC through VTEP."""
    idx = nl.index(vxlan)
    nl.fdb_add(idx, mac, vtep)
    nl.set_neighbour(idx, ip, mac)


def remove_remote(nl: Netlink, vxlan: str, ip: str, mac: str, vtep: str) -> None:
    """Forget the remote endpoint IP/MAC."""
    idx = nl.index(vxlan)
    nl.delete_neighbour(idx, ip)
    nl.fdb_delete(idx, mac, vtep)
