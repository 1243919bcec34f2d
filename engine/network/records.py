"""Cluster service records: names the embedded DNS answers, VIPs each sandbox balances.

The agent gives each cluster network on this host the services the manager
knows on it (NetworkState.services), tasks on every host included:

    set_service_records("net-id", [{"name": "web", "vip": "10.0.1.2",
                                    "task_ips": ["10.0.1.5", "10.0.1.7"], "aliases": []}])

On that network the embedded DNS then answers `web` (and each alias) with
the VIP, or with every task address when the service has no VIP (endpoint
mode dnsrr), and `tasks.web` with every task address; a record's name wins
over a container's name or alias that is the same. PTR of a VIP gives the
service name. Each sandbox attached to the network gets the VIPs of every
network it is on balanced over their tasks (vip.py), rebuilt when the
records change and when the sandbox connects or disconnects. The records
are kept with the network (Network.services) and survive a restart.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoal.engine.network import nsutil, vip
from shoal.engine.network.errors import InvalidNetworkConfig, NetworkSystemError
from shoal.engine.network.model import Network, Sandbox
from shoal.engine.network.store import NetworkStore

log = logging.getLogger(__name__)
Record = dict[str, Any]


def normalize(r: Mapping[str, Any]) -> Record:
    """Return record R in its stored form; InvalidNetworkConfig names what is wrong."""
    name = str(r.get("name") or "")
    if not name:
        raise InvalidNetworkConfig(f"service record {dict(r)!r}: no name")
    out: Record = {"name": name, "vip": str(r.get("vip") or ""),
                   "task_ips": [str(ip) for ip in r.get("task_ips") or ()],
                   "aliases": [str(a) for a in r.get("aliases") or () if a]}
    try:
        vip.check({out["vip"]: out["task_ips"]} if out["vip"] else {"0.0.0.0": out["task_ips"]})
    except ValueError as exc:
        raise InvalidNetworkConfig(f"service record {name}: {exc}") from exc
    out["task_ips"] = sorted(dict.fromkeys(out["task_ips"]), key=ipaddress.IPv4Address)
    return out


def names_of(n: Network) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Return the DNS names N's records give (lowercase name -> addresses), and VIP -> name."""
    names: dict[str, list[str]] = {}
    rev: dict[str, str] = {}
    for r in n.services:
        answer = [r["vip"]] if r.get("vip") else list(r.get("task_ips", []))
        for key in dict.fromkeys([r["name"], *r.get("aliases", [])]):
            names[key.lower()] = answer
            names[f"tasks.{key}".lower()] = list(r.get("task_ips", []))
        if r.get("vip"):
            rev[r["vip"]] = r["name"]
    return names, rev


class RecordsMixin:
    """The service-records half of NetworkService (it provides the attributes below)."""

    store: NetworkStore
    networks: dict[str, Network]
    sandboxes: dict[str, Sandbox]
    _lock: threading.RLock

    if TYPE_CHECKING:  # NetworkService's
        def get(self, ref: str) -> Network: ...
        def _reindex(self) -> None: ...

    # ---- API ------------------------------------------------------------------------
    def set_service_records(self, network: str, records: Iterable[Mapping[str, Any]]) -> None:
        """Replace NETWORK's service records (see the module docstring); rebuild the DNS
        names and the VIP tables of the sandboxes on it. NetworkSystemError names the
        sandboxes whose table could not be loaded (the others are done)."""
        new = sorted((normalize(r) for r in records), key=lambda r: r["name"])
        with self._lock:
            n = self.get(network)
            if new == n.services:
                return
            n.services = new
            self.store.save_network(n)
            self._reindex()
            failed = self._sync_vips([sb for sb in self.sandboxes.values()
                                      if sb.endpoint(n.id) is not None])
        if failed:
            raise NetworkSystemError(f"network {n.name}: VIP rules not loaded in "
                                     + "; ".join(failed))

    def service_records(self, network: str) -> list[Record]:
        """Return NETWORK's service records."""
        with self._lock:
            return [dict(r) for r in self.get(network).services]

    def sandbox_vips(self, cid: str) -> dict[str, list[str]]:
        """Return the VIPs CID's sandbox balances: vip -> task addresses."""
        with self._lock:
            sb = self.sandboxes.get(cid)
            return self._vips_of(sb) if sb is not None else {}

    # ---- helpers NetworkService calls -----------------------------------------------
    def _vips_of(self, sb: Sandbox) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in sb.endpoints:
            n = self.networks.get(e.network_id)
            for r in n.services if n is not None else ():
                if r.get("vip"):
                    out[r["vip"]] = list(r.get("task_ips", []))
        return out

    def _sync_vips(self, sandboxes: Iterable[Sandbox]) -> list[str]:
        """Load the VIP table of each of SANDBOXES whose table changed; return the failures.

        What each sandbox was last given is remembered in memory; after a
        restart a sandbox's table is loaded again the first time it is synced
        (the tables stay in the namespaces meanwhile).
        """
        loaded: dict[str, str] = self.__dict__.setdefault("_vip_loaded", {})
        for cid in [c for c in loaded if c not in self.sandboxes]:
            del loaded[cid]
        failed = []
        for sb in sandboxes:
            text = vip.render(self._vips_of(sb))
            if loaded.get(sb.container_id) == text:
                continue
            try:
                vip.apply(sb.path, text)
            except NetworkSystemError as exc:
                if nsutil.is_netns(Path(sb.path)):  # else: being removed
                    failed.append(f"{sb.container_id[:12]}: {exc}")
                continue
            loaded[sb.container_id] = text
        for f in failed:
            log.warning("service VIP rules not loaded: %s", f)
        return failed
