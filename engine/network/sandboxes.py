"""Sandboxes, endpoints, published ports and a container's /etc files (NetworkService part).

A sandbox is the container's network namespace, bound at
<run_root>/netns/<container id> before the container starts; the runtime
joins it (ContainerSpec.net_namespace = that path). Each endpoint is a veth
pair: one end (Endpoint.host_veth) a port of the network's bridge, in the
bridge's namespace (bridge.py), the other in the sandbox as eth0, eth1 ... in
connect order; the first routed network gives the default route. An overlay
endpoint is a macvlan on the overlay's VXLAN device instead (overlay.py),
with no bridge end (Endpoint.host_veth is "").

Removing a sandbox does not wait for the kernel to delete its veths: the
namespace is unbound, the kernel deletes the veth pairs when it destroys it,
and reaper.py releases each address once its veth is gone.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import subprocess
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoal.engine.network import bridge, etcfiles, nsutil, overlay, ports, views
from shoal.engine.network.config import NetworkConfig
from shoal.engine.network.dns import DnsServer, sandbox_nft, sandbox_rules
from shoal.engine.network.errors import (
    EndpointNotFound,
    InvalidNetworkConfig,
    NetworkConflict,
    NetworkSystemError,
    PortInUse,
)
from shoal.engine.network.ipam import Ipam
from shoal.engine.network.model import Endpoint, Network, PortMapping, Sandbox
from shoal.engine.network.netlink import Netlink
from shoal.engine.network.reaper import Doomed, Reaper
from shoal.engine.network.store import NetworkStore


class SandboxMixin:
    """The per-container half of NetworkService (it provides the attributes below)."""

    cfg: NetworkConfig
    store: NetworkStore
    ipam: Ipam
    holder: ports.PortHolder
    dns: DnsServer
    networks: dict[str, Network]
    sandboxes: dict[str, Sandbox]
    reaper: Reaper
    _lock: threading.RLock

    @property
    def nl(self) -> Netlink:  # pragma: no cover - NetworkService's
        raise NotImplementedError

    def get(self, ref: str) -> Network:  # pragma: no cover - NetworkService's
        raise NotImplementedError

    def _apply_rules(self, check_hooks: bool = False) -> None:  # pragma: no cover
        raise NotImplementedError

    def _reindex(self) -> None:  # pragma: no cover - NetworkService's
        raise NotImplementedError

    if TYPE_CHECKING:  # IngressMixin's (a stub here would hide it in NetworkService)
        def _ingress_taken(self) -> list[PortMapping]: ...
        def _uses_container(self, cid: str) -> bool: ...
        # NetworkService's
        def _links(self, n: Network | None) -> contextlib.AbstractContextManager[Netlink]: ...
        def _bridge(self, n: Network) -> tuple[Netlink, int]: ...
        def link_netns(self, n: Network) -> str | None: ...
        def _sync_vips(self, sandboxes: Iterable[Sandbox]) -> list[str]: ...  # RecordsMixin's

    # ---- sandboxes ----------------------------------------------------------------
    def sandbox_path(self, cid: str) -> str | None:
        """Return the netns path of CID's sandbox, or None if it has none."""
        sb = self.sandboxes.get(cid)
        return sb.path if sb else None

    def sandbox_create(self, cid: str) -> str:
        """Create CID's network namespace (lo up); return its path.

        Idempotent: an existing sandbox's path is returned as it is.
        """
        with self._lock:
            sb = self.sandboxes.get(cid)
            if sb is not None and nsutil.is_netns(Path(sb.path)):
                return sb.path
            path = self.cfg.netns_root / cid
            if path.exists():
                nsutil.remove(path)

            def lo_up() -> None:
                with Netlink() as nl:
                    nl.set_link(nl.index("lo"), up=True)

            nsutil.create(path, parent=self.cfg.netns, setup=lo_up)
            sb = Sandbox(container_id=cid, path=str(path))
            try:
                self.sandboxes[cid] = sb
                self.store.save_sandbox(sb)
            except BaseException:
                self.sandboxes.pop(cid, None)
                nsutil.remove(path)
                raise
            return sb.path

    def _serve_dns(self, sb: Sandbox) -> None:
        """Serve the embedded DNS in SB (on its previous ports if it had some)."""
        want = (sb.dns_ports[0], sb.dns_ports[1]) if len(sb.dns_ports) == 2 else (0, 0)
        got = self.dns.add_sandbox(sb.container_id, sb.path, want)
        if got != want:
            def load() -> subprocess.CompletedProcess[str]:
                try:
                    return subprocess.run(["nft", "-f", "-"], input=sandbox_nft(*got),
                                          capture_output=True, text=True, check=False)
                except FileNotFoundError:  # no nftables: a DNAT (and conntrack, on lo)
                    return subprocess.run(["iptables-restore"], input=sandbox_rules(*got),
                                          capture_output=True, text=True, check=False)

            res = nsutil.run_in(sb.path, load)
            if res.returncode != 0:
                self.dns.remove_sandbox(sb.container_id)
                raise NetworkSystemError(f"embedded DNS rules: {res.stderr.strip()}")
            sb.dns_ports = list(got)

    def sandbox_remove(self, cid: str) -> None:
        """Remove CID's ports, endpoints, DNS sockets and namespace (missing parts are fine).

        The veths go with the namespace, which the kernel destroys in the
        background; each address is released once its veth is gone (reaper.py).
        """
        with self._lock:
            sb = self.sandboxes.get(cid)
            if sb is None:
                nsutil.remove(self.cfg.netns_root / cid)
                return
            if sb.ports:
                self.unpublish(cid)
            self.dns.remove_sandbox(cid)
            doomed = [d for e in sb.endpoints if (d := self._doom(sb, e)) is not None]
            nsutil.remove(Path(sb.path))
            sb.endpoints = []
            del self.sandboxes[cid]
            self.store.delete_sandbox(cid)
            self.reaper.add(doomed)
            self._reindex()
            if self._uses_container(cid):  # a service port loses this backend
                self._apply_rules()

    def _doom(self, sb: Sandbox, e: Endpoint) -> Doomed | None:
        """Return what the reaper needs to release E once its device is gone (None: released
        now, the device being gone already). Call before SB's namespace is unbound."""
        n = self.networks.get(e.network_id)
        if e.host_veth and n is not None and n.driver == "bridge":  # the reaper waits for the
            # veth's bridge end to go
            try:
                lk = self._bridge(n)[0].link(e.host_veth)
            except (NetworkSystemError, OSError):
                lk = None  # the bridge's namespace is gone, and the veth with it
            if lk is not None:
                return Doomed(e.network_id, e.ip, e.id, self.link_netns(n), e.host_veth,
                              lk.index)
        elif not e.host_veth:  # a macvlan in the sandbox: the reaper deletes it through HOLDER
            try:
                holder = Netlink(sb.path)
            except (NetworkSystemError, OSError):
                holder = None
            lk = holder.link(e.ifname) if holder is not None else None
            if holder is not None and lk is not None:
                return Doomed(e.network_id, e.ip, e.id, None, e.ifname, lk.index, holder)
            if holder is not None:
                holder.close()
        self.ipam.release(e.network_id, e.ip, e.id)
        return None

    def _sandbox(self, cid: str) -> Sandbox:
        sb = self.sandboxes.get(cid)
        if sb is None:
            raise EndpointNotFound(f"container {cid} has no network sandbox")
        return sb

    # ---- endpoints ----------------------------------------------------------------
    def _gateway_endpoint(self, sb: Sandbox) -> Endpoint | None:
        for e in sb.endpoints:
            n = self.networks.get(e.network_id)
            if n is not None and n.routed:
                return e
        return None

    def connect(self, network: str, cid: str, name: str, aliases: Iterable[str] = (),
                ip: str | None = None) -> dict[str, Any]:
        """Attach CID's sandbox to NETWORK; return Docker's EndpointSettings.

        NAME is the container's name (resolvable on user-defined networks,
        with ALIASES and the short id); IP an explicit address (--ip).
        """
        with self._lock:
            n = self.get(network)
            if not n.has_device:
                raise InvalidNetworkConfig(f"container cannot be connected to network {n.name}")
            sb = self._sandbox(cid)
            if sb.endpoint(n.id) is not None:
                raise NetworkConflict(f"endpoint with name {name} already exists in network "
                                      f"{n.name}")
            eid = secrets.token_hex(32)
            if ip:  # the address may still be on a removed container's device: finish that
                self.reaper.settle(n.id, ip)
            addr = str(self.ipam.allocate(n.id, eid, ip))
            prefix = ipaddress.IPv4Network(n.subnet).prefixlen
            e = Endpoint(id=eid, network_id=n.id, container_id=cid, name=name,
                         ifname=bridge.free_ifname([x.ifname for x in sb.endpoints]),
                         host_veth="" if n.driver == "overlay" else
                         self.cfg.veth_prefix + eid[:8], mac=bridge.mac_for(addr),
                         ip=addr, prefixlen=prefix, aliases=list(dict.fromkeys(aliases)))
            try:
                self._attach(sb, e, n)
            except BaseException:
                self.ipam.release(n.id, addr)
                raise
            sb.endpoints.append(e)
            if n.dns:
                try:
                    self._serve_dns(sb)
                except BaseException:
                    sb.endpoints.remove(e)
                    self._drop_endpoint_kernel(e)
                    raise
            self.store.save_sandbox(sb)
            self._reindex()
            if n.services:  # cluster service VIPs, balanced in the sandbox (records.py)
                self._sync_vips([sb])
            if self._uses_container(cid) and self._gateway_endpoint(sb) is e:
                self._apply_rules()  # a service port gains this backend
            return views.endpoint_settings(n, e)

    def disconnect(self, network: str, cid: str, force: bool = False) -> None:
        """Detach CID from NETWORK (FORCE: no error when it is not attached)."""
        with self._lock:
            n = self.get(network)
            sb = self.sandboxes.get(cid)
            e = sb.endpoint(n.id) if sb else None
            if sb is None or e is None:
                if force:
                    return
                raise EndpointNotFound(f"container {cid} is not connected to network {n.name}")
            was_gateway = self._gateway_endpoint(sb) is e
            if any(p.network_id == n.id for p in sb.ports):
                self._release_ports(sb, [p for p in sb.ports if p.network_id == n.id])
                sb.ports = [p for p in sb.ports if p.network_id != n.id]
                self._apply_rules()
            self._drop_endpoint(sb, e)
            nxt = self._gateway_endpoint(sb)
            if was_gateway and nxt is not None:
                with contextlib.suppress(NetworkSystemError):
                    bridge.set_default_route(sb.path, self.networks[nxt.network_id].gateway)
            self.store.save_sandbox(sb)
            self._reindex()
            if n.services:
                self._sync_vips([sb])

    def _drop_endpoint(self, sb: Sandbox, e: Endpoint) -> None:
        self._drop_endpoint_kernel(e)
        sb.endpoints.remove(e)

    def _attach(self, sb: Sandbox, e: Endpoint, n: Network) -> None:
        """Create E's device in SB (a veth from N's bridge, or a macvlan on N's VXLAN device)."""
        iface = ipaddress.IPv4Interface(f"{e.ip}/{e.prefixlen}")
        with self._links(n) as nl:
            if n.driver == "overlay":
                overlay.attach(nl, n.vxlan, sb.path, e.ifname, e.mac, iface, n.mtu)
                return
            gateway = n.gateway if n.routed and self._gateway_endpoint(sb) in (None, e) else ""
            bridge.attach(nl, self._bridge(n)[1], sb.path, e.host_veth, e.ifname, e.mac, iface,
                          gateway, n.mtu, isolated=not n.icc)

    def _drop_endpoint_kernel(self, e: Endpoint) -> None:
        n = self.networks.get(e.network_id)
        if e.host_veth:  # with no network, the bridge's namespace went and the veth with it
            if n is not None and n.driver == "bridge":
                with self._links(n) as nl:
                    bridge.delete_link(nl, e.host_veth)
        else:  # a macvlan, in the sandbox
            sb = self.sandboxes.get(e.container_id)
            if sb is not None and nsutil.is_netns(Path(sb.path)):
                with Netlink(sb.path) as ns:
                    bridge.delete_link(ns, e.ifname)
        self.ipam.release(e.network_id, e.ip)

    def endpoint_settings(self, cid: str, exposed: Iterable[str] = ()) -> dict[str, Any]:
        """Return CID's NetworkSettings for container inspect (Networks, Ports, SandboxKey)."""
        with self._lock:
            return views.network_settings(self.sandboxes.get(cid), self.networks, list(exposed))

    # ---- published ports ----------------------------------------------------------
    def publish(self, cid: str, port_bindings: Mapping[str, Any] | None,
                exposed_ports: Iterable[str] = (), publish_all: bool = False) -> dict[str, Any]:
        """Publish CID's ports (HostConfig.PortBindings; -P: every ExposedPorts key).

        DNAT to the container's address on its first routed network; a host
        port taken by shoal or a host process raises PortInUse naming it.
        Returns NetworkSettings.Ports. Without a routed network this is a no-op.
        """
        with self._lock:
            sb = self._sandbox(cid)
            want = ports.wanted(dict(port_bindings or {}), exposed_ports, publish_all)
            if sb.ports:
                self.unpublish(cid)
            e = self._gateway_endpoint(sb)
            if e is None or not want:
                return ports.ports_view([], exposed_ports)
            taken = [p for other in self.sandboxes.values() for p in other.ports]
            taken += self._ingress_taken()
            new: list[PortMapping] = []
            try:
                for proto, cport, hip, hport in want:
                    if hport and any(ports.overlaps(p, proto, hip, hport) for p in taken + new):
                        raise PortInUse(f"Bind for {hip or '0.0.0.0'}:{hport} failed: port is "
                                        "already allocated")
                    got = self.holder.hold(proto, hip, hport)
                    new.append(PortMapping(proto, hip or "0.0.0.0", got, cport, e.ip,
                                           e.network_id))
                sb.ports = new
                self._apply_rules()
            except BaseException:
                self._release_ports(sb, new)
                sb.ports = []
                raise
            self.store.save_sandbox(sb)
            return ports.ports_view(sb.ports, exposed_ports)

    def _release_ports(self, sb: Sandbox, mappings: list[PortMapping]) -> None:
        for p in mappings:
            self.holder.release(p.proto, p.host_ip, p.host_port)

    def unpublish(self, cid: str) -> None:
        """Remove CID's published ports (rules and reservations); none is fine."""
        with self._lock:
            sb = self.sandboxes.get(cid)
            if sb is None or not sb.ports:
                return
            self._release_ports(sb, sb.ports)
            sb.ports = []
            self._apply_rules()
            self.store.save_sandbox(sb)

    # ---- /etc files ---------------------------------------------------------------
    def resolv_conf(self, cid: str, dns: Iterable[str] = (), search: Iterable[str] = (),
                    options: Iterable[str] = ()) -> str:
        """Return CID's /etc/resolv.conf: 127.0.0.11 on user-defined networks, else the host's."""
        with self._lock:
            sb = self.sandboxes.get(cid)
            embedded = bool(sb) and any(
                self.networks[e.network_id].dns for e in sb.endpoints  # type: ignore[union-attr]
                if e.network_id in self.networks)
        try:
            host = Path("/etc/resolv.conf").read_text()
        except OSError:
            host = ""
        return etcfiles.resolv_conf(host, embedded, dns, search, options)

    def hosts(self, cid: str, hostname: str, aliases: Iterable[str] = (),
              extra_hosts: Iterable[str] = ()) -> str:
        """Return CID's /etc/hosts: localhost, its addresses with HOSTNAME, --add-host lines."""
        with self._lock:
            sb = self.sandboxes.get(cid)
            addrs = [e.ip for e in sb.endpoints] if sb else []
        return etcfiles.hosts(hostname, addrs, aliases, extra_hosts)
