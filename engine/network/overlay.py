"""The overlay driver's kernel side: a bridge plus a VXLAN device, programmed by hand.

Each overlay network has, on each host, a network namespace of its own
(like Docker's), bound at <netns root>/../overlay-netns/<network id[:12]>,
holding the network's bridge and VXLAN device; the containers' veths have
their "host" end there, on that bridge. br_netfilter is switched off in that
namespace and it has no rules, so frames between containers and the VXLAN
device are bridged without walking iptables and conntrack. The VXLAN device
is created from the host's namespace straight into the overlay's: its UDP
socket (port 4789) stays bound in the host's namespace and the encapsulated
packets are routed there, over the underlay.

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
BRIDGE_NF = ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables")


def underlay_mtu(nl: Netlink) -> int:
    """Return the MTU of the interface holding the default route (1500 if none)."""
    by_index = {lk.index: lk for lk in nl.links()}
    for r in nl.routes():
        if r.dst.prefixlen == 0 and r.oif in by_index:
            return by_index[r.oif].mtu
    return 1500


def _bridge_nf_off() -> None:
    """Stop br_netfilter from sending this namespace's bridged frames through iptables."""
    for key in BRIDGE_NF:
        with contextlib.suppress(FileNotFoundError):  # br_netfilter not loaded: nothing to do
            Path("/proc/sys/net/bridge", key).write_text("0")


def ensure(host: Netlink, netns: Path, bridge_name: str, vxlan: str, vni: int, mtu: int,
           gateway: ipaddress.IPv4Interface | None, port: int = VXLAN_PORT) -> list[str]:
    """Make the overlay's namespace NETNS, its bridge and VXLAN device exist, enslaved, up.

    HOST is the host's namespace (where the VXLAN socket lives). Returns what
    had to be created. Safe to run again (daemon start).
    """
    made = []
    if not nsutil.is_netns(netns):
        nsutil.remove(netns)  # a bare file a crash left
        nsutil.create(netns, parent=host.netns, setup=_bridge_nf_off)
        made.append(str(netns))
    else:
        nsutil.run_in(str(netns), _bridge_nf_off)  # br_netfilter may have been loaded since
    with Netlink(str(netns)) as nl:
        if nl.link(bridge_name) is None:
            made.append(bridge_name)
        br = bridge.ensure_bridge(nl, bridge_name, gateway, mtu, route_localnet=False)
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
        if link.master != br or not link.up:
            nl.set_link(link.index, master=br, up=True)
    return made


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
