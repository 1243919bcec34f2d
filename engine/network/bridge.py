"""The bridge driver's kernel side: a bridge in a namespace of its own, and veths into it.

Each bridge network has a network namespace of its own, bound at
<run root>/bridge-netns/<bridge name>, holding its Linux bridge (BRIDGE) and
the bridge's end of every container's veth pair. That namespace has
br_netfilter's `bridge-nf-call-{iptables,ip6tables,arptables}` at 0 (they
are per namespace), so container-to-container frames are switched with no
netfilter hook, while the host's namespace keeps br_netfilter as it is
(Docker, if present, wants it). The host sees the network as one interface
named like the bridge (`shoal0`, `shbr-...`): the host end of a veth pair
whose other end (UPLINK) is a port of the bridge. It holds the gateway
address, so every iptables rule that matches `-i/-o <bridge>` (NAT, DNAT of
published ports, isolation, FORWARD ACCEPTs) applies to it unchanged:
everything leaving the network, or entering it, is routed by the host.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from pathlib import Path

from shoal.engine.network import nsutil
from shoal.engine.network.errors import NetworkSystemError
from shoal.engine.network.netlink import Netlink

BRIDGE = "br0"  # the bridge, in the network's namespace
UPLINK = "up0"  # its port towards the host (the peer of the host's interface)
NO_NETFILTER = ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables",
                "bridge-nf-call-arptables")


def mac_for(ip: str) -> str:
    """Return the MAC Docker gives an address: 02:42 then the four bytes of IP."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def random_mac() -> str:
    """Return a random locally administered unicast MAC (for bridges)."""
    b = bytearray(secrets.token_bytes(6))
    b[0] = (b[0] & 0xFC) | 0x02
    return ":".join(f"{x:02x}" for x in b)


def tune_netns() -> None:
    """Turn br_netfilter off (and IPv6 autoconfiguration) in the calling thread's namespace.

    Without br_netfilter loaded the files are absent and nothing is hooked
    anyway; if it is loaded later it starts at 1, so reconcile calls this again.
    """
    settings = [(f"net/bridge/{k}", "0") for k in NO_NETFILTER]
    settings += [("net/ipv6/conf/default/disable_ipv6", "1"),
                 ("net/ipv6/conf/all/disable_ipv6", "1")]
    for key, value in settings:
        with contextlib.suppress(FileNotFoundError), open(f"/proc/sys/{key}", "w") as f:
            f.write(value)


def ensure_netns(host: Netlink, netns: Path) -> bool:
    """Make the network's namespace NETNS exist, tuned; return whether it was created."""
    if nsutil.is_netns(netns):
        nsutil.run_in(str(netns), tune_netns)
        return False
    nsutil.remove(netns)  # a bare file a crash left
    nsutil.create(netns, parent=host.netns, setup=tune_netns)
    return True


def ensure_bridge(host: Netlink, bnl: Netlink, name: str,
                  gateway: ipaddress.IPv4Interface | None, mtu: int,
                  route_localnet: bool) -> tuple[list[str], int]:
    """Make the bridge (BNL: its namespace) and the host's interface NAME exist, joined and up.

    NAME gets address GATEWAY. route_localnet lets DNATed loopback traffic
    (127.0.0.1:port published) leave through NAME; a POSTROUTING MASQUERADE
    then rewrites the source. Returns (what had to be created, the bridge's
    index). An older shoal's bridge NAME in the host's namespace is replaced.
    """
    made = []
    br = bnl.link(BRIDGE)
    if br is None:
        bnl.add_bridge(BRIDGE, mtu=mtu, mac=random_mac())
        br = bnl.link(BRIDGE)
        if br is None:
            raise NetworkSystemError(f"bridge of {name} vanished after creation")
        made.append(f"{name}/{BRIDGE}")
    if not br.up:
        bnl.set_link(br.index, up=True)
    up = bnl.link(UPLINK)
    link = host.link(name)
    if link is not None and (link.kind != "veth" or up is None or up.link != link.index):
        if link.kind not in ("veth", "bridge"):
            raise NetworkSystemError(f"interface {name} exists and is a {link.kind or 'device'}"
                                     ", not shoal's")
        host.delete_link(link.index)  # an older shoal's bridge, or half of a broken pair
        link = None
    if link is None:
        if up is not None:
            bnl.delete_link(up.index)
        fd = nsutil.open_fd(host.netns)
        try:
            bnl.add_veth(UPLINK, name, peer_netns_fd=fd, mtu=mtu, peer_mac=random_mac(),
                         master=br.index, up=True)
        finally:
            os.close(fd)
        link = host.link(name)
        if link is None:
            raise NetworkSystemError(f"interface {name} vanished after creation")
        made.append(name)
    elif up is not None and (up.master != br.index or not up.up):
        bnl.set_link(up.index, master=br.index, up=True)
    if gateway is not None:
        host.add_address(link.index, gateway)
    if not link.up:
        host.set_link(link.index, up=True)
    if route_localnet:
        nsutil.sysctl_write(host.netns, f"net/ipv4/conf/{name}/route_localnet", "1")
    return made, br.index


def delete_network(host: Netlink, netns: Path, name: str) -> None:
    """Remove the host's interface NAME (a veth: its peer goes too) and the namespace NETNS.

    The bridge and any veth end left in it go when the kernel destroys the
    namespace, in the background; the host's name is free at once.
    """
    link = host.link(name)
    if link is not None and link.kind in ("veth", "bridge"):
        host.delete_link(link.index)
    nsutil.remove(netns)


def delete_link(nl: Netlink, name: str) -> bool:
    """Delete interface NAME if it exists; return whether it did."""
    link = nl.link(name)
    if link is None:
        return False
    nl.delete_link(link.index)
    return True


def attach(bnl: Netlink, br: int, sandbox: str, port: str, ifname: str, mac: str,
           iface: ipaddress.IPv4Interface, gateway: str, mtu: int, isolated: bool) -> None:
    """Create veth PORT (on bridge BR, in BNL's namespace) <-> IFNAME (in SANDBOX, with IFACE
    and MAC).

    One request creates the pair, enslaves PORT and brings it up.
    GATEWAY, when given, becomes the sandbox's default route; ISOLATED ports
    reach the host but not each other (enable_icc=false). Leaves nothing
    behind on failure.
    """
    fd = os.open(sandbox, os.O_RDONLY | os.O_CLOEXEC)
    try:
        bnl.add_veth(port, ifname, peer_netns_fd=fd, mtu=mtu, peer_mac=mac, master=br, up=True)
    finally:
        os.close(fd)
    try:
        if isolated:
            bnl.set_bridge_port(bnl.index(port), isolated=True)
        with Netlink(sandbox) as ns:
            idx = ns.index(ifname)
            ns.add_address(idx, iface)
            ns.set_link(idx, up=True)
            if gateway:
                ns.add_route("0.0.0.0/0", gateway=gateway)
    except BaseException:
        with contextlib.suppress(NetworkSystemError):
            delete_link(bnl, port)
        raise


def set_default_route(sandbox: str, gateway: str) -> None:
    """Point SANDBOX's default route at GATEWAY (after its previous gateway went away)."""
    with Netlink(sandbox) as ns:
        ns.add_route("0.0.0.0/0", gateway=gateway)


def free_ifname(used: list[str]) -> str:
    """Return the first ethN not in USED."""
    n = 0
    while f"eth{n}" in used:
        n += 1
    return f"eth{n}"
