"""NetworkService: the network facade the container service and the REST API call.

One NetworkService per engine. Methods are synchronous and thread-safe (one
lock; call them from asyncio through asyncio.to_thread); each takes a few
netlink requests (about a millisecond in all) and, when rules change, one
iptables-restore. Lifecycle of a container (the order the caller follows):

    create:  nothing (networks are named in HostConfig.NetworkMode / NetworkingConfig)
    start:   path = sandbox_create(cid)            -> ContainerSpec.net_namespace = path
             connect(net, cid, name, aliases, ip)  for each network, first = default route
             publish(cid, PortBindings, ExposedPorts, PublishAllPorts)
             write resolv_conf(cid) and hosts(cid, hostname) into the container dir
    stop:    unpublish(cid)                        (ports are released, as with Docker)
    remove:  sandbox_remove(cid)                   (endpoints, ports, DNS, netns)
    daemon:  start(live_container_ids) at startup, stop() at shutdown (kernel state stays)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import re
import secrets
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from shoal.engine.config import EngineConfig
from shoal.engine.network import bridge, nsutil, overlay, ports, views
from shoal.engine.network.config import NetworkConfig
from shoal.engine.network.dns import DnsServer, Lookup, host_nameservers
from shoal.engine.network.errors import (
    InvalidNetworkConfig,
    NetworkConflict,
    NetworkInUse,
    NetworkNotFound,
    NetworkSystemError,
)
from shoal.engine.network.firewall import Firewall
from shoal.engine.network.ingress import IngressMixin
from shoal.engine.network.ipam import Ipam, parse_subnet, pick_subnet
from shoal.engine.network.mesh import MeshMixin
from shoal.engine.network.model import Network, Sandbox, ServicePorts
from shoal.engine.network.netlink import Netlink
from shoal.engine.network.reaper import Reaper
from shoal.engine.network.records import RecordsMixin, names_of
from shoal.engine.network.sandboxes import SandboxMixin
from shoal.engine.network.store import NetworkStore

log = logging.getLogger(__name__)
List = list  # the method NetworkService.list shadows the builtin in annotations
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
IFNAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$")  # IFNAMSIZ - 1
PREDEFINED = ("bridge", "host", "none")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


class NetworkService(SandboxMixin, IngressMixin, RecordsMixin, MeshMixin):
    """Networks, sandboxes, endpoints, published ports and the embedded DNS of one host."""

    def __init__(self, config: EngineConfig, net_config: NetworkConfig | None = None) -> None:
        self.cfg = net_config or NetworkConfig.from_engine(config)
        self.store = NetworkStore(self.cfg.state_root)
        self.ipam = Ipam(self.store.ipam_path)
        self.reaper = Reaper(self.ipam.release)  # leases of removed sandboxes' veths
        self.firewall = Firewall(self.cfg.netns, self.cfg.chain_prefix, self.cfg.rule_tag)
        self.holder = ports.PortHolder(self.cfg.netns)
        forwarders: List[str] = []
        if self.cfg.dns_forward:
            with contextlib.suppress(OSError):
                forwarders = host_nameservers(Path("/etc/resolv.conf").read_text())
        self.dns = DnsServer(Lookup(self._resolve, self._reverse), forwarders, self.cfg.netns)
        self.networks: dict[str, Network] = {}
        self.sandboxes: dict[str, Sandbox] = {}
        self.services: dict[str, ServicePorts] = {}  # ingress ports per cluster service
        self._lock = threading.RLock()
        self._nl: Netlink | None = None
        self._bridges: dict[str, tuple[Netlink, int]] = {}  # network id -> socket in its netns,
        # and its bridge's index there (the sockets are closed before a namespace is removed)
        self._names: dict[str, dict[str, List[str]]] = {}  # network id -> name -> ips
        self._rev: dict[str, dict[str, str]] = {}  # network id -> ip -> name

    # ---- lifecycle ----------------------------------------------------------------
    @property
    def nl(self) -> Netlink:
        if self._nl is None:
            raise NetworkSystemError("NetworkService.start() was not called")
        return self._nl

    def start(self, live_containers: Iterable[str] | None = None) -> dict[str, Any]:
        """Load state, enable forwarding, reconcile the kernel with it, serve DNS.

        LIVE_CONTAINERS, when given, are the containers that still exist:
        sandboxes of any other container are removed. Returns what reconcile
        repaired (see reconcile.reconcile).
        """
        from shoal.engine.network.reconcile import reconcile

        with self._lock:
            self._close_bridges()
            self._nl = Netlink(self.cfg.netns)
            self.networks = self.store.load_networks()
            self.sandboxes = self.store.load_sandboxes()
            self._load_services()
            nsutil.sysctl_write(self.cfg.netns, "net.ipv4.ip_forward", "1")
            self.dns.start()
            report = reconcile(self, None if live_containers is None else set(live_containers))
            report["mesh_problems"] = self._restore_meshes()
            self._reindex()
            return report

    def stop(self) -> None:
        """Stop serving (DNS, port reservations); bridges, veths and rules stay for the
        containers that outlive the daemon. Addresses of removed sandboxes are released
        first (their veths waited for, or deleted)."""
        with self._lock:
            self.reaper.drain()
            self.dns.stop()
            self.holder.close()
            self._close_bridges()
            if self._nl is not None:
                self._nl.close()
                self._nl = None

    def teardown(self) -> None:
        """Remove everything this service created in the kernel and its state (tests, uninstall)."""
        with self._lock:
            if self._nl is None:
                self._nl = Netlink(self.cfg.netns)
                self.networks = self.store.load_networks()
                self.sandboxes = self.store.load_sandboxes()
            self.services.clear()
            self._save_services()
            for cid in list(self.sandboxes):
                self.sandbox_remove(cid)
            for n in list(self.networks.values()):
                self._delete_devices(n)
            self.firewall.teardown()
            self.networks.clear()
        self.stop()

    # ---- networks -----------------------------------------------------------------
    def get(self, ref: str) -> Network:
        """Return the network with name, id or unique id prefix REF."""
        with self._lock:
            if ref in self.networks:
                return self.networks[ref]
            by_name = [n for n in self.networks.values() if n.name == ref]
            if by_name:
                return by_name[0]
            by_prefix = [n for n in self.networks.values() if n.id.startswith(ref)]
            if len(by_prefix) == 1 and ref:
                return by_prefix[0]
            if len(by_prefix) > 1:
                raise NetworkNotFound(f"network {ref} is ambiguous ({len(by_prefix)} matches)")
            raise NetworkNotFound(f"network {ref} not found")

    def _add_network(self, n: Network) -> Network:
        """Set up N's kernel side and rules, then persist it; undo everything on failure."""
        try:
            if n.subnet:
                self.ipam.add_network(n.id, ipaddress.IPv4Network(n.subnet),
                                      ipaddress.IPv4Address(n.gateway))
            self._ensure_devices(n)
            self.networks[n.id] = n
            self._apply_rules()
            self.store.save_network(n)
        except BaseException:
            self.networks.pop(n.id, None)
            self.ipam.remove_network(n.id)
            with contextlib.suppress(NetworkSystemError):
                self._delete_devices(n)
                self._apply_rules()
            raise
        return n

    def _ensure_devices(self, n: Network) -> List[str]:
        """Make N's kernel side exist; return the devices (and namespace) it had to create."""
        gw = ipaddress.IPv4Interface(f"{n.gateway}/{ipaddress.IPv4Network(n.subnet).prefixlen}") \
            if n.gateway else None
        if n.driver == "bridge":
            path = self._bridge_netns(n)
            made = [str(path)] if bridge.ensure_netns(self.nl, path) else []
            self._close_bridges(n.id)  # a socket from before may be in a namespace now gone
            bnl = Netlink(str(path))
            try:
                got, br = bridge.ensure_bridge(self.nl, bnl, n.bridge, gw, n.mtu,
                                               route_localnet=n.routed)
            except BaseException:
                bnl.close()
                raise
            self._bridges[n.id] = (bnl, br)
            return made + got
        if n.driver == "overlay":
            return overlay.ensure(self.nl, self._overlay_netns(n), n.vxlan, n.vni, n.mtu)
        return []

    def _delete_devices(self, n: Network) -> None:
        if n.driver == "overlay":
            overlay.delete(self._overlay_netns(n), n.vxlan)
        elif n.driver == "bridge" and n.bridge:
            self._close_bridges(n.id)
            bridge.delete_network(self.nl, self._bridge_netns(n), n.bridge)

    def _close_bridges(self, network_id: str | None = None) -> None:
        """Close the sockets held in bridge namespaces (NETWORK_ID's, or all)."""
        for nid in [network_id] if network_id else list(self._bridges):
            if nid in self._bridges:
                self._bridges.pop(nid)[0].close()

    def _bridge(self, n: Network) -> tuple[Netlink, int]:
        """Return a netlink socket in bridge network N's namespace, and its bridge's index."""
        got = self._bridges.get(n.id)
        if got is None:
            path = self._bridge_netns(n)
            if not nsutil.is_netns(path):
                raise NetworkSystemError(f"network {n.name}: namespace {path} is missing")
            bnl = Netlink(str(path))
            try:
                got = (bnl, bnl.index(bridge.BRIDGE))
            except BaseException:
                bnl.close()
                raise
            self._bridges[n.id] = got
        return got

    @property
    def bridge_netns_root(self) -> Path:
        """Where the bridge networks' namespaces are bound (next to the sandboxes')."""
        return self.cfg.netns_root.parent / "bridge-netns"

    def _bridge_netns(self, n: Network) -> Path:
        return self.bridge_netns_root / n.bridge

    @property
    def overlay_netns_root(self) -> Path:
        """Where the overlay networks' namespaces are bound (next to the sandboxes')."""
        return self.cfg.netns_root.parent / "overlay-netns"

    def _overlay_netns(self, n: Network) -> Path:
        return self.overlay_netns_root / n.id[:12]

    def link_netns(self, n: Network) -> str | None:
        """Return the namespace holding N's device (a bridge and the bridge's ends of its
        veths, or an overlay's VXLAN device)."""
        if n.driver == "overlay":
            return str(self._overlay_netns(n))
        if n.driver == "bridge":
            return str(self._bridge_netns(n))
        return self.cfg.netns

    @contextlib.contextmanager
    def _links(self, n: Network | None) -> Iterator[Netlink]:
        """Give a netlink socket in the namespace of N's device (the host's for None)."""
        if n is not None and n.driver == "bridge":
            yield self._bridge(n)[0]
            return
        if n is None or n.driver != "overlay":
            yield self.nl
            return
        with Netlink(str(self._overlay_netns(n))) as nl:  # closed: it would keep the netns
            yield nl

    def _check_new(self, name: str, options: dict[str, str]) -> str:
        if not name or not NAME_RE.match(name):
            raise InvalidNetworkConfig(f"invalid network name {name!r}: only "
                                       "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        if any(n.name == name for n in self.networks.values()):
            raise NetworkConflict(f"network with name {name} already exists")
        dev = options.get("com.docker.network.bridge.name", "")
        if dev and (not IFNAME_RE.match(dev)
                    or any(n.bridge == dev for n in self.networks.values())):
            raise InvalidNetworkConfig(f"option com.docker.network.bridge.name: {dev!r} is "
                                       "taken, longer than 15 or not an interface name")
        return secrets.token_hex(32)

    def _subnet(self, subnet: str | None, gateway: str | None) -> tuple[str, str]:
        if subnet:
            net, gw = parse_subnet(subnet, gateway)
        else:
            if gateway:
                raise InvalidNetworkConfig("a gateway needs a subnet")
            avoid = [*self._host_networks(), *self.ipam.subnets().values()]
            net = pick_subnet(self.cfg.pools, avoid)
            gw = net.network_address + 1
        return str(net), str(gw)

    def _host_networks(self) -> List[ipaddress.IPv4Network]:
        """Return the subnets the host already routes or holds addresses in."""
        nets = [r.dst for r in self.nl.routes() if r.dst.prefixlen > 0]
        nets += [iface.network for _i, iface in self.nl.addresses()
                 if not iface.ip.is_loopback]
        return nets

    def create(self, name: str, driver: str = "bridge", subnet: str | None = None,
               gateway: str | None = None, internal: bool = False, attachable: bool = False,
               labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None) -> Network:
        """Create a user-defined bridge network; pick a free pool subnet if none is given."""
        if driver not in ("bridge", ""):
            raise InvalidNetworkConfig(f"driver {driver!r} is not supported here "
                                       "(bridge; overlay through create_overlay)")
        options = dict(options or {})
        with self._lock:
            nid = self._check_new(name, options)
            sub, gw = self._subnet(subnet, gateway)
            mtu = int(options.get("com.docker.network.driver.mtu") or self.cfg.mtu)
            n = Network(id=nid, name=name, driver="bridge", created=_now(), subnet=sub,
                        gateway=gw, internal=internal, attachable=attachable,
                        bridge=options.get("com.docker.network.bridge.name")
                        or self.cfg.bridge_prefix + nid[:10],
                        mtu=mtu, labels=dict(labels or {}), options=options)
            return self._add_network(n)

    def create_overlay(self, name: str, vni: int, subnet: str, gateway: str | None = None,
                       mtu: int = 0, labels: dict[str, str] | None = None,
                       options: dict[str, str] | None = None, network_id: str = "") -> Network:
        """Create this host's side of an overlay network: VXLAN device VNI in a namespace
        of its own (overlay.py).

        MTU 0 means the underlay's (default-route device) minus 50. NETWORK_ID
        lets the manager keep the cluster-wide id. Containers attach with
        connect() (a macvlan on the VXLAN device each); they get no default
        route (no egress).
        """
        if not 1 <= vni < 1 << 24:
            raise InvalidNetworkConfig(f"VNI {vni} out of range 1-16777215")
        with self._lock:
            nid = self._check_new(name, {})
            if network_id:
                nid = network_id
            if any(n.vni == vni for n in self.networks.values()):
                raise NetworkConflict(f"VNI {vni} is used by another network")
            sub, gw = self._subnet(subnet, gateway)
            n = Network(id=nid, name=name, driver="overlay", created=_now(), subnet=sub,
                        gateway=gw, attachable=True,
                        mtu=mtu or overlay.underlay_mtu(self.nl) - overlay.VXLAN_OVERHEAD,
                        vni=vni, vxlan=f"{self.cfg.veth_prefix}x{vni}",
                        labels=dict(labels or {}), options=dict(options or {}))
            return self._add_network(n)

    def list(self, filters: dict[str, List[str]] | None = None) -> List[dict[str, Any]]:
        """Return `GET /networks`: inspect views, filtered by name/id/driver/label/type."""
        with self._lock:
            return [self._view(n) for n in self.networks.values() if _match(n, filters or {})]

    def inspect(self, ref: str) -> dict[str, Any]:
        """Return `GET /networks/{id}` for REF (Docker's network JSON)."""
        with self._lock:
            return self._view(self.get(ref))

    def _view(self, n: Network) -> dict[str, Any]:
        eps = [e for sb in self.sandboxes.values() for e in sb.endpoints if e.network_id == n.id]
        return views.network(n, eps)

    def remove(self, ref: str) -> None:
        """Remove a user-defined network; refused while containers are attached (named)."""
        with self._lock:
            n = self.get(ref)
            if n.default or n.driver in ("host", "null"):
                raise NetworkConflict(f"{n.name} is a pre-defined network and cannot be removed")
            users = [e.name for sb in self.sandboxes.values() for e in sb.endpoints
                     if e.network_id == n.id]
            if users:
                raise NetworkInUse(n.name, sorted(users))
            self._delete_devices(n)
            self.networks.pop(n.id)
            self.ipam.remove_network(n.id)
            self.store.delete_network(n.id)
            self._apply_rules()
            self._reindex()

    def prune(self, filters: dict[str, List[str]] | None = None) -> List[str]:
        """Remove every unused user-defined network (matching FILTERS); return their names."""
        removed = []
        with self._lock:
            used = {e.network_id for sb in self.sandboxes.values() for e in sb.endpoints}
            for n in list(self.networks.values()):
                if n.default or n.driver in ("host", "null") or n.id in used:
                    continue
                if _match(n, filters or {}):
                    self.remove(n.id)
                    removed.append(n.name)
        return removed

    # ---- overlay peers and remote endpoints ---------------------------------------
    def _overlay(self, ref: str) -> Network:
        n = self.get(ref)
        if n.driver != "overlay":
            raise InvalidNetworkConfig(f"network {n.name} is not an overlay network")
        return n

    def add_peer(self, network: str, vtep: str) -> None:
        """Flood the overlay's broadcast/unknown frames to host VTEP as well."""
        with self._lock:
            n = self._overlay(network)
            with self._links(n) as nl:
                overlay.add_peer(nl, n.vxlan, vtep)
            if vtep not in n.peers:
                n.peers.append(vtep)
                self.store.save_network(n)

    def remove_peer(self, network: str, vtep: str) -> None:
        """Stop flooding to VTEP."""
        with self._lock:
            n = self._overlay(network)
            with self._links(n) as nl:
                overlay.remove_peer(nl, n.vxlan, vtep)
            if vtep in n.peers:
                n.peers.remove(vtep)
                self.store.save_network(n)

    def add_endpoint(self, network: str, ip: str, mac: str, vtep: str, name: str = "",
                     aliases: Iterable[str] = ()) -> None:
        """Make remote endpoint IP/MAC (behind VTEP) reachable, and resolvable as NAME."""
        with self._lock:
            n = self._overlay(network)
            self.ipam.allocate(n.id, f"remote:{vtep}", ip)
            try:
                with self._links(n) as nl:
                    overlay.add_remote(nl, n.vxlan, ip, mac, vtep)
            except BaseException:
                self.ipam.release(n.id, ip)
                raise
            n.remote[ip] = {"mac": mac, "vtep": vtep, "name": name, "aliases": list(aliases)}
            self.store.save_network(n)
            self._reindex()

    def remove_endpoint(self, network: str, ip: str) -> None:
        """Forget remote endpoint IP."""
        with self._lock:
            n = self._overlay(network)
            r = n.remote.pop(ip, None)
            if r is None:
                return
            with self._links(n) as nl:
                overlay.remove_remote(nl, n.vxlan, ip, r["mac"], r["vtep"])
            self.ipam.release(n.id, ip)
            self.store.save_network(n)
            self._reindex()

    # ---- rules and names ----------------------------------------------------------
    def _apply_rules(self, check_hooks: bool = False) -> None:
        mappings = [p for sb in self.sandboxes.values() for p in sb.ports]
        # an overlay's bridge is in a namespace of its own, with no rules
        nets = [n for n in self.networks.values() if n.driver != "overlay"]
        nets += self._mesh_networks()  # routing-mesh interfaces, routed like bridges
        self.firewall.apply(nets, mappings, check_hooks, self._service_rules())

    def _reindex(self) -> None:
        """Rebuild the DNS tables (swapped whole: the DNS thread reads them without the lock)."""
        names: dict[str, dict[str, List[str]]] = {}
        rev: dict[str, dict[str, str]] = {}
        for n in self.networks.values():
            if n.dns:
                names[n.id], rev[n.id] = {}, {}
                for ip, r in n.remote.items():
                    for key in [r.get("name", ""), *r.get("aliases", [])]:
                        if key:
                            names[n.id].setdefault(key.lower(), []).append(ip)
                    if r.get("name"):
                        rev[n.id][ip] = r["name"]
        for sb in self.sandboxes.values():
            for e in sb.endpoints:
                if e.network_id in names:
                    for key in dict.fromkeys([e.name, e.container_id[:12], *e.aliases]):
                        names[e.network_id].setdefault(key.lower(), []).append(e.ip)
                    rev[e.network_id][e.ip] = e.name
        for n in self.networks.values():  # cluster services: their records win (records.py)
            if n.id in names and n.services:
                more, vips = names_of(n)
                names[n.id].update(more)
                rev[n.id].update(vips)
        self._names, self._rev = names, rev

    def _resolve(self, cid: str, qname: str) -> List[str] | None:
        sb = self.sandboxes.get(cid)
        if sb is None:
            return None
        found: List[str] | None = None
        names = self._names
        for e in list(sb.endpoints):
            ips = names.get(e.network_id, {}).get(qname)
            if ips:
                found = (found or []) + [ip for ip in ips if ip not in (found or [])]
        return found

    def _reverse(self, cid: str, ip: str) -> str | None:
        sb = self.sandboxes.get(cid)
        for e in list(sb.endpoints) if sb else []:
            name = self._rev.get(e.network_id, {}).get(ip)
            if name:
                return name
        return None


def _match(n: Network, filters: dict[str, list[str]]) -> bool:
    """Tell whether N passes Docker's network filters (name, id, driver, label, type)."""
    for key, values in filters.items():
        if not values:
            continue
        if key == "name" and not any(v in n.name for v in values):
            return False
        if key == "id" and not any(n.id.startswith(v) for v in values):
            return False
        if key == "driver" and views.DRIVER_NAME.get(n.driver, n.driver) not in values:
            return False
        if key == "type":
            builtin = n.default or n.driver in ("host", "null")
            if ("builtin" if builtin else "custom") not in values:
                return False
        if key == "label":
            for v in values:
                k, _, want = v.partition("=")
                if k not in n.labels or (want and n.labels[k] != want):
                    return False
    return True

