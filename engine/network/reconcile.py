"""Make the kernel match the persisted state when the daemon starts.

Runs once from NetworkService.start(), under its lock. It creates the
predefined networks if missing, recreates missing bridge namespaces /
bridges / host interfaces / VXLAN devices / overlay namespaces / FDB
entries, re-attaches endpoints whose veth vanished (and moves an older
shoal's, whose host end was in the host's namespace, into the bridge's),
deletes shoal's interfaces and veths that no record owns (in the host's
namespace, the bridges' and the overlays'), and bridge or overlay namespaces
no network owns (with the host's interface of such a bridge), drops
sandboxes whose namespace is gone (or whose container no longer exists),
rebuilds the leases from the endpoints (no duplicate, no leak), re-reserves
published ports and reloads the firewall. Running it twice changes nothing
the second time.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoal.engine.network import bridge, nsutil, overlay
from shoal.engine.network.errors import NetworkError
from shoal.engine.network.model import Network
from shoal.engine.network.netlink import Link, Netlink

if TYPE_CHECKING:
    from shoal.engine.network.service import NetworkService

log = logging.getLogger(__name__)


def ensure_predefined(svc: NetworkService) -> list[str]:
    """Create the networks "bridge" (the default bridge), "host" and "none" if missing."""
    from shoal.engine.network.service import _now

    made = []
    names = {n.name for n in svc.networks.values()}
    for name, driver in (("host", "host"), ("none", "null")):
        if name not in names:
            n = Network(id=secrets.token_hex(32), name=name, driver=driver, created=_now())
            svc.networks[n.id] = n
            svc.store.save_network(n)
            made.append(name)
    if not any(n.default for n in svc.networks.values()):
        sub, gw = svc._subnet(svc.cfg.default_subnet or None, None)
        n = Network(id=secrets.token_hex(32), name="bridge", driver="bridge", created=_now(),
                    subnet=sub, gateway=gw, bridge=svc.cfg.default_bridge, default=True,
                    mtu=svc.cfg.mtu)
        svc.ipam.add_network(n.id, ipaddress.IPv4Network(sub), ipaddress.IPv4Address(gw))
        svc.networks[n.id] = n
        svc.store.save_network(n)
        made.append("bridge")
    return made


def reconcile(svc: NetworkService, live: set[str] | None) -> dict[str, Any]:
    """Repair the kernel and the records; return what was done, by kind."""
    report: dict[str, Any] = {"created": ensure_predefined(svc), "devices": [],
                              "sandboxes_removed": [], "endpoints_repaired": [],
                              "links_removed": [], "netns_removed": [], "leases_dropped": []}
    for n in svc.networks.values():
        if not n.has_device:
            continue
        report["devices"] += svc._ensure_devices(n)
        if n.driver == "overlay":
            with svc._links(n) as onl:
                for vtep in n.peers:
                    overlay.add_peer(onl, n.vxlan, vtep)
                for ip, r in n.remote.items():
                    overlay.add_remote(onl, n.vxlan, ip, r["mac"], r["vtep"])

    nl = svc.nl
    host_links = {lk.name: lk for lk in nl.links()}
    bridge_links: dict[str, dict[str, Link]] = {}  # network id -> its namespace's links
    for cid, sb in list(svc.sandboxes.items()):
        gone = (live is not None and cid not in live) or not nsutil.is_netns(Path(sb.path))
        if gone:
            _drop_sandbox(svc, cid)
            report["sandboxes_removed"].append(cid)
            continue
        for e in list(sb.endpoints):
            net = svc.networks.get(e.network_id)
            if net is None:
                svc._drop_endpoint(sb, e)
                continue
            if net.driver == "overlay":
                if _overlay_endpoint_broken(svc, sb, e, net):
                    _reattach(svc, sb, e, net)
                    report["endpoints_repaired"].append(e.id)
                continue
            bnl, br = svc._bridge(net)
            if net.id not in bridge_links:
                bridge_links[net.id] = {lk.name: lk for lk in bnl.links()}
            lk = bridge_links[net.id].get(e.host_veth)
            if lk is None:
                old = host_links.pop(e.host_veth, None)
                if old is not None and old.kind == "veth":  # an older shoal's, on a host bridge
                    nl.delete_link(old.index)  # its sandbox end goes with it
                _reattach(svc, sb, e, net)
                report["endpoints_repaired"].append(e.id)
            elif lk.master != br or not lk.up:
                bnl.set_link(lk.index, master=br, up=True)
                report["endpoints_repaired"].append(e.id)
        svc.store.save_sandbox(sb)

    report["netns_removed"] += _remove_stray_bridges(svc)
    report["links_removed"] = _remove_leaked_links(svc)
    known = {Path(sb.path).name for sb in svc.sandboxes.values()}
    if svc.cfg.netns_root.is_dir():
        for p in svc.cfg.netns_root.iterdir():
            if p.name not in known:
                nsutil.remove(p)
                report["netns_removed"].append(p.name)
    overlays = {n.id[:12] for n in svc.networks.values() if n.driver == "overlay"}
    if svc.overlay_netns_root.is_dir():
        for p in svc.overlay_netns_root.iterdir():
            if p.name not in overlays:
                nsutil.remove(p)
                report["netns_removed"].append(f"{svc.overlay_netns_root.name}/{p.name}")

    keep: dict[str, dict[str, str]] = {}
    for sb in svc.sandboxes.values():
        for e in sb.endpoints:
            keep.setdefault(e.network_id, {})[e.ip] = e.id
    for n in svc.networks.values():
        for ip, r in n.remote.items():
            keep.setdefault(n.id, {})[ip] = f"remote:{r['vtep']}"
    report["leases_dropped"] = svc.ipam.retain(keep)
    for nid in set(svc.ipam.subnets()) - set(svc.networks):  # its record was lost
        svc.ipam.remove_network(nid)

    for sb in svc.sandboxes.values():
        for m in sb.ports:
            try:
                svc.holder.hold(m.proto, m.host_ip, m.host_port)
            except NetworkError as exc:  # the rule still works; say why it is not held
                log.warning("published port %s:%s not reserved: %s", m.host_ip, m.host_port, exc)
        if sb.dns_ports:
            try:
                svc._serve_dns(sb)
                svc.store.save_sandbox(sb)
            except (NetworkError, OSError) as exc:
                log.warning("embedded DNS for %s not served: %s", sb.container_id[:12], exc)
    svc._hold_service_ports()
    svc._apply_rules(check_hooks=True)
    return report


def _drop_sandbox(svc: NetworkService, cid: str) -> None:
    sb = svc.sandboxes[cid]
    for e in list(sb.endpoints):
        with contextlib.suppress(NetworkError):
            svc._drop_endpoint(sb, e)
    nsutil.remove(Path(sb.path))
    del svc.sandboxes[cid]
    svc.store.delete_sandbox(cid)


def _overlay_endpoint_broken(svc: NetworkService, sb: Any, e: Any, n: Network) -> bool:
    """Tell whether overlay endpoint E lacks its macvlan (it goes with the VXLAN device);
    clear what is in its place (an older shoal's veth, whose host end was on a bridge)."""
    if e.host_veth:  # in the host's namespace, or (briefly) on a bridge in the overlay's
        bridge.delete_link(svc.nl, e.host_veth)
        with svc._links(n) as nl:
            bridge.delete_link(nl, e.host_veth)
        e.host_veth = ""
    with Netlink(sb.path) as ns:
        if overlay.is_attached(ns, e.ifname, e.mac):
            return False
        bridge.delete_link(ns, e.ifname)
    return True


def _reattach(svc: NetworkService, sb: Any, e: Any, n: Network) -> None:
    """Recreate the device of endpoint E (a veth's sandbox end dies with its host end)."""
    try:
        svc._attach(sb, e, n)
    except NetworkError as exc:
        log.warning("could not re-attach %s to %s: %s", e.container_id[:12], n.name, exc)
        svc._drop_endpoint(sb, e)


def _remove_leaked_links(svc: NetworkService) -> list[str]:
    """Delete veths, bridges and VXLAN devices with shoal's names that no record owns, in
    the host's namespace, and every veth no endpoint owns in a bridge's or an overlay's."""
    removed = []
    for n in [None, *[n for n in svc.networks.values() if n.has_device]]:
        if n is None:  # the host's namespace: the bridge networks' interfaces
            owned = {m.bridge for m in svc.networks.values() if m.driver == "bridge"}
        elif n.driver == "bridge":  # its namespace: the bridge, its uplink, the veths' ends
            owned = {bridge.BRIDGE, bridge.UPLINK}
            owned |= {e.host_veth for sb in svc.sandboxes.values() for e in sb.endpoints
                      if e.network_id == n.id}
        else:  # an overlay's namespace: its VXLAN device only
            owned = {n.vxlan}
        with svc._links(n) as nl:
            for lk in nl.links():
                ours = (lk.kind == "veth" and (n is not None
                                               or lk.name.startswith(svc.cfg.veth_prefix))) or \
                    (lk.kind in ("bridge", "veth") and lk.name.startswith(svc.cfg.bridge_prefix)) \
                    or (lk.kind == "vxlan" and lk.name.startswith(svc.cfg.veth_prefix + "x"))
                if ours and lk.name not in owned:
                    with contextlib.suppress(NetworkError):
                        nl.delete_link(lk.index)
                        removed.append(lk.name)
    return removed


def _remove_stray_bridges(svc: NetworkService) -> list[str]:
    """Remove the namespaces of bridge networks no record owns (removed while the daemon was
    down), with the host's interface of each (named like the namespace file)."""
    root = svc.bridge_netns_root
    owned = {n.bridge for n in svc.networks.values() if n.driver == "bridge"}
    removed = []
    for p in sorted(root.iterdir()) if root.is_dir() else []:
        if p.name in owned:
            continue
        if nsutil.is_netns(p):
            with contextlib.suppress(NetworkError, OSError), Netlink(str(p)) as bnl:
                up, host = bnl.link(bridge.UPLINK), svc.nl.link(p.name)
                if up is not None and host is not None and host.kind == "veth" \
                        and up.link == host.index:
                    svc.nl.delete_link(host.index)
        nsutil.remove(p)
        removed.append(f"{root.name}/{p.name}")
    return removed
