"""The routing mesh, host side: this host's endpoint on the ingress overlay (NetworkService part).

    set_mesh("ingress-id", "10.0.0.3/24")   # this node's ingress address (the manager's)
    set_service_ports("svc", [("tcp", 8080, 80)], ["10.0.0.5", "10.0.0.9"])   # ingress.py
    remove_mesh("ingress-id")

The host gets an interface on the overlay: a macvlan (bridge mode) on the
overlay's VXLAN device, created from the overlay's namespace straight into
the host's, named <veth prefix>i<VNI>, with the node's address on the
network (MAC 02:42 + the address, as every endpoint). Through it the host
reaches every task on the network: the ones here through their macvlans
(siblings on the same VXLAN device), the others through the VXLAN device
(their hosts' peers and endpoints are programmed by the agent), and the
other hosts' ingress addresses reach this one the same way. A published
port is then one DNAT per backend in <P>-DNAT (ingress.py, with task
addresses as backends, on any host) and the connection leaves through this
interface, masqueraded to the node's address, so the task's reply comes
back through the host that received the connection (which undoes both
translations). A connection to 127.0.0.1:PORT works as for published
ports: `route_localnet` on the interface and a MASQUERADE of 127/8.

The rules are those of a routed network whose "bridge" is this interface
(firewall.py): DNATed traffic to it and replies from it are ACCEPTed
whatever the FORWARD policy, what leaves through it after a DNAT is
masqueraded, and the other networks cannot route into it. Removing the
overlay removes the interface with its VXLAN device; reconcile leaves
macvlans alone, and start() re-creates a missing one (with its address).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
from typing import TYPE_CHECKING

from shoal.engine.network import bridge, nsutil
from shoal.engine.network.config import NetworkConfig
from shoal.engine.network.errors import (
    InvalidNetworkConfig,
    NetworkError,
    NetworkSystemError,
)
from shoal.engine.network.ipam import Ipam
from shoal.engine.network.model import Network
from shoal.engine.network.netlink import Netlink
from shoal.engine.network.store import NetworkStore

MASQUERADE_OPTION = "com.docker.network.bridge.enable_ip_masquerade"
LEASE_OWNER = "mesh"


class MeshMixin:
    """The routing-mesh half of NetworkService (it provides the attributes below)."""

    cfg: NetworkConfig
    store: NetworkStore
    ipam: Ipam
    networks: dict[str, Network]
    _lock: threading.RLock

    if TYPE_CHECKING:  # NetworkService's
        @property
        def nl(self) -> Netlink: ...
        def _overlay(self, ref: str) -> Network: ...
        def _links(self, n: Network | None) -> contextlib.AbstractContextManager[Netlink]: ...
        def _apply_rules(self, check_hooks: bool = False) -> None: ...

    # ---- API ------------------------------------------------------------------------
    def set_mesh(self, network: str, address: str) -> None:
        """Give this host ADDRESS (CIDR, on the network's subnet) on overlay NETWORK and route
        service ports through it. Idempotent; a new address replaces the old one."""
        with self._lock:
            n = self._overlay(network)
            iface = _interface(n, address)
            if n.mesh_address and n.mesh_address != str(iface):
                self._drop_mesh(n)
            self.ipam.allocate(n.id, LEASE_OWNER, str(iface.ip))
            try:
                self._ensure_mesh(n, iface)
            except BaseException:
                if n.mesh_address != str(iface):
                    self.ipam.release(n.id, str(iface.ip), LEASE_OWNER)
                raise
            if n.mesh_address != str(iface):
                n.mesh_address = str(iface)
                self.store.save_network(n)
                self._apply_rules()

    def remove_mesh(self, network: str) -> None:
        """Remove this host's endpoint on NETWORK (none is fine)."""
        with self._lock:
            n = self._overlay(network)
            if n.mesh_address:
                self._drop_mesh(n)
                self._apply_rules()

    def mesh_link(self, network: str) -> str:
        """Return the name of this host's interface on NETWORK ("" if it has none)."""
        with self._lock:
            n = self._overlay(network)
            return self._mesh_ifname(n) if n.mesh_address else ""

    # ---- helpers NetworkService calls -----------------------------------------------
    def _mesh_ifname(self, n: Network) -> str:
        return f"{self.cfg.veth_prefix}i{n.vni}"

    def _ensure_mesh(self, n: Network, iface: ipaddress.IPv4Interface) -> None:
        name, mac = self._mesh_ifname(n), bridge.mac_for(str(iface.ip))
        lk = self.nl.link(name)
        if lk is not None and (lk.kind != "macvlan" or lk.mac != mac):
            self.nl.delete_link(lk.index)
            lk = None
        if lk is None:
            host = self.cfg.netns or f"/proc/{os.getpid()}/ns/net"
            fd = os.open(host, os.O_RDONLY | os.O_CLOEXEC)
            try:
                with self._links(n) as onl:
                    onl.add_macvlan(name, onl.index(n.vxlan), netns_fd=fd, mtu=n.mtu, mac=mac)
            finally:
                os.close(fd)
        idx = self.nl.index(name)
        try:
            for i, have in self.nl.addresses():
                if i == idx and have != iface:
                    self.nl.delete_link(idx)  # an old address: start over with a fresh device
                    return self._ensure_mesh(n, iface)
            self.nl.add_address(idx, iface)
            nsutil.sysctl_write(self.cfg.netns, f"net.ipv4.conf.{name}.route_localnet", "1")
            self.nl.set_link(idx, up=True)
        except BaseException:
            with contextlib.suppress(NetworkError):
                bridge.delete_link(self.nl, name)
            raise
        return None

    def _drop_mesh(self, n: Network) -> None:
        with contextlib.suppress(NetworkSystemError):
            bridge.delete_link(self.nl, self._mesh_ifname(n))
        ip = str(ipaddress.IPv4Interface(n.mesh_address).ip)
        self.ipam.release(n.id, ip, LEASE_OWNER)
        n.mesh_address = ""
        self.store.save_network(n)

    def _mesh_networks(self) -> list[Network]:
        """Return a routed pseudo network per mesh interface, for the firewall's rendering:
        its subnet 0/0 makes "masquerade what is DNATed into it" cover every client."""
        return [Network(id=f"mesh-{n.id}", name=f"mesh-{n.name}", driver="bridge", created="",
                        subnet="0.0.0.0/0", bridge=self._mesh_ifname(n),
                        options={MASQUERADE_OPTION: "false"})
                for n in self.networks.values() if n.driver == "overlay" and n.mesh_address]

    def _restore_meshes(self) -> list[str]:
        """Re-create missing mesh interfaces and their leases (daemon start); return problems."""
        problems = []
        for n in self.networks.values():
            if n.driver != "overlay" or not n.mesh_address:
                continue
            iface = ipaddress.IPv4Interface(n.mesh_address)
            try:
                self.ipam.allocate(n.id, LEASE_OWNER, str(iface.ip))
                self._ensure_mesh(n, iface)
            except NetworkError as exc:
                problems.append(f"{n.name}: {exc}")
        return problems


def _interface(n: Network, address: str) -> ipaddress.IPv4Interface:
    try:
        iface = ipaddress.IPv4Interface(address)
    except ValueError as exc:
        raise InvalidNetworkConfig(f"mesh address {address!r} of network {n.name}: "
                                   f"not an IPv4 CIDR address") from exc
    if iface.network != ipaddress.IPv4Network(n.subnet):
        raise InvalidNetworkConfig(f"mesh address {address} is not on network {n.name} "
                                   f"({n.subnet})")
    return iface
