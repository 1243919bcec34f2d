"""The overlay driver's kernel side: a VXLAN device, and a macvlan per container on it.

Each overlay network has, on each host, a network namespace of its own,
bound at <netns root>/../overlay-netns/<network id[:12]>, holding the
network's VXLAN device; it has no addresses and no rules. The device is
created from the host's namespace straight into the overlay's: its UDP
socket (port 4789) stays bound in the host's namespace and the encapsulated
packets are routed there, over the underlay. A container's endpoint is a
macvlan (bridge mode) on the VXLAN device, created directly in the
container's namespace as ethN: containers on one host reach each other
through the macvlans, and the others through the VXLAN device, with no
bridge, no veth and no second trip through the network stack (no
br_netfilter, no iptables, no conntrack on the way). Removing the VXLAN
device removes the macvlans on it (reconcile puts them back).

No multicast and no learning: the manager tells each host its peers' VTEP
addresses (an all-zero FDB entry per peer carries broadcast, unknown unicast
and multicast to every peer) and every remote endpoint (a per-MAC FDB entry
sends its frames to the right VTEP; a permanent neighbour entry lets the
VXLAN device answer ARP for it locally, the device being in ARP-proxy mode).
FDB and neighbour entries live in the overlay's namespace.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
from pathlib import Path

from shoal.engine.network import bridge, nsutil
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


def ensure(host: Netlink, netns: Path, vxlan: str, vni: int, mtu: int,
           port: int = VXLAN_PORT) -> list[str]:
    """Make the overlay's namespace NETNS and its VXLAN device exist, up.

    HOST is the host's namespace (where the VXLAN socket lives). Returns what
    had to be created. Safe to run again (daemon start).
    """
    made = []
    if not nsutil.is_netns(netns):
        nsutil.remove(netns)  # a bare file a crash left
        nsutil.create(netns, parent=host.netns)
        made.append(str(netns))
    with Netlink(str(netns)) as nl:
        link = nl.link(vxlan)
        if link is None:
            bridge.delete_link(host, vxlan)  # an older shoal kept it in the host's namespace
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                host.add_vxlan(vxlan, vni, port=port, mtu=mtu, netns_fd=fd)
            finally:
                os.close(fd)
            made.append(vxlan)
            link = nl.link(vxlan)
            if link is None:
                raise NetworkSystemError(f"VXLAN device {vxlan} is not in {netns}")
        if link.master or not link.up:  # a macvlan cannot sit on a bridge port
            nl.set_link(link.index, master=0, up=True)
    return made


def attach(nl: Netlink, vxlan: str, sandbox: str, ifname: str, mac: str,
           iface: ipaddress.IPv4Interface, mtu: int) -> None:
    """Create macvlan IFNAME on VXLAN (NL: the overlay's namespace) in SANDBOX, with IFACE
    and MAC, up. Leaves nothing behind on failure."""
    lower = nl.index(vxlan)
    fd = os.open(sandbox, os.O_RDONLY | os.O_CLOEXEC)
    try:
        nl.add_macvlan(ifname, lower, netns_fd=fd, mtu=mtu, mac=mac)
    finally:
        os.close(fd)
    with Netlink(sandbox) as ns:
        try:
            idx = ns.index(ifname)
            ns.add_address(idx, iface)
            ns.set_link(idx, up=True)
        except BaseException:
            with contextlib.suppress(NetworkSystemError):
                bridge.delete_link(ns, ifname)
            raise


def is_attached(sandbox: Netlink, ifname: str, mac: str) -> bool:
    """Tell whether SANDBOX has macvlan IFNAME with MAC, up."""
    lk = sandbox.link(ifname)
    return lk is not None and lk.kind == "macvlan" and lk.mac == mac and lk.up


def delete(netns: Path, vxlan: str) -> None:
    """Remove the overlay's namespace NETNS (and what is in it; a missing one is fine).

    The VXLAN device is deleted first, right away: the kernel destroys a
    namespace in the background, and until then the device would keep its
    VNI taken in the host's namespace.
    """
    if nsutil.is_netns(netns):
        with Netlink(str(netns)) as nl:
            bridge.delete_link(nl, vxlan)
    nsutil.remove(netns)


def _ignore_exists(fn: object) -> None:
    try:
        fn()  # type: ignore[operator]
    except NetworkSystemError as exc:
        if exc.errno != errno.EEXIST:
            raise


def add_peer(nl: Netlink, vxlan: str, vtep: str) -> None:
    """Send broadcast / unknown-unicast / multicast frames to VTEP too (NL: the overlay's)."""
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
