"""The bridge driver's kernel side: bridges, and veth pairs from a bridge into a sandbox."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets

from shoal.engine.network import nsutil
from shoal.engine.network.errors import NetworkSystemError
from shoal.engine.network.netlink import Netlink


def mac_for(ip: str) -> str:
    """Return the MAC Docker gives an address: 02:42 then the four bytes of IP."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def random_mac() -> str:
    """Return a random locally administered unicast MAC (for bridges)."""
    b = bytearray(secrets.token_bytes(6))
    b[0] = (b[0] & 0xFC) | 0x02
    return ":".join(f"{x:02x}" for x in b)


def ensure_bridge(nl: Netlink, name: str, gateway: ipaddress.IPv4Interface | None, mtu: int,
                  route_localnet: bool) -> int:
    """Make bridge NAME exist, up, with address GATEWAY; return its index.

    route_localnet lets DNATed loopback traffic (127.0.0.1:port published)
    leave through the bridge; a POSTROUTING MASQUERADE then rewrites the source.
    """
    link = nl.link(name)
    if link is None:
        nl.add_bridge(name, mtu=mtu, mac=random_mac())
        link = nl.link(name)
        if link is None:
            raise NetworkSystemError(f"bridge {name} vanished after creation")
    elif link.kind and link.kind != "bridge":
        raise NetworkSystemError(f"interface {name} exists and is a {link.kind}, not a bridge")
    if gateway is not None:
        nl.add_address(link.index, gateway)
    if not link.up:
        nl.set_link(link.index, up=True)
    if route_localnet:
        nsutil.sysctl_write(nl.netns, f"net.ipv4.conf.{name}.route_localnet", "1")
    return link.index


def delete_link(nl: Netlink, name: str) -> bool:
    """Delete interface NAME if it exists; return whether it did."""
    link = nl.link(name)
    if link is None:
        return False
    nl.delete_link(link.index)
    return True


def attach(nl: Netlink, sandbox: str, bridge: str, host_veth: str, ifname: str, mac: str,
           iface: ipaddress.IPv4Interface, gateway: str, mtu: int) -> None:
    """Create veth HOST_VETH (on BRIDGE) <-> IFNAME (in SANDBOX, with IFACE and MAC).

    GATEWAY, when given, becomes the sandbox's default route. Leaves nothing
    behind on failure.
    """
    br = nl.index(bridge)
    fd = os.open(sandbox, os.O_RDONLY | os.O_CLOEXEC)
    try:
        nl.add_veth(host_veth, ifname, peer_netns_fd=fd, mtu=mtu, peer_mac=mac)
    finally:
        os.close(fd)
    try:
        nl.set_link(nl.index(host_veth), master=br, up=True)
        with Netlink(sandbox) as ns:
            idx = ns.index(ifname)
            ns.add_address(idx, iface)
            ns.set_link(idx, up=True)
            if gateway:
                ns.add_route("0.0.0.0/0", gateway=gateway)
    except BaseException:
        with contextlib.suppress(NetworkSystemError):
            delete_link(nl, host_veth)
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
