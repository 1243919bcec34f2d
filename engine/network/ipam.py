"""IP address management: subnet pools and per-network address leases.

Subnets come from pools (Docker's defaults: 172.17-31.0.0/16, then
192.168.0.0/16 cut in /20s); a pool subnet that overlaps a host route or
address, or another network, is skipped. Each network's leases map an address
to its owner (an endpoint id) and are persisted in one JSON file written
atomically after every change, under a lock, so parallel allocations get
distinct addresses and a restarted daemon starts from what was leased.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from shoal.engine.network import jsonfile
from shoal.engine.network.errors import (
    AddressInUse,
    InvalidNetworkConfig,
    NetworkConflict,
    NetworkNotFound,
    PoolExhausted,
)

Net = ipaddress.IPv4Network
Addr = ipaddress.IPv4Address


@dataclass(frozen=True)
class Pool:
    """A base range cut into subnets of prefix length SIZE."""

    base: str
    size: int

    def subnets(self) -> Iterator[Net]:
        return Net(self.base).subnets(new_prefix=self.size)


DEFAULT_POOLS = (Pool("172.17.0.0/16", 16), Pool("172.18.0.0/15", 16), Pool("172.20.0.0/14", 16),
                 Pool("172.24.0.0/13", 16), Pool("192.168.0.0/16", 20))


def parse_pools(text: str) -> tuple[Pool, ...]:
    """Parse "base/len:size,base/len:size" (like dockerd's --default-address-pool)."""
    pools = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        base, _, size = item.partition(":")
        try:
            net = Net(base)
        except ValueError as exc:
            raise InvalidNetworkConfig(f"invalid address pool {item!r}: {exc}") from exc
        pools.append(Pool(str(net), int(size) if size else net.prefixlen))
    return tuple(pools)


def pick_subnet(pools: Iterable[Pool], avoid: Iterable[Net]) -> Net:
    """Return the first pool subnet overlapping nothing in AVOID."""
    avoid = [n for n in avoid if n.prefixlen > 0]  # a default route overlaps everything
    for pool in pools:
        for sub in pool.subnets():
            if not any(sub.overlaps(a) for a in avoid):
                return sub
    raise PoolExhausted("could not find an available, non-overlapping IPv4 address pool "
                        "among the defaults to assign to the network")


def parse_subnet(subnet: str, gateway: str | None) -> tuple[Net, Addr]:
    """Validate a user's SUBNET (and GATEWAY, default: its first address)."""
    try:
        net = Net(subnet, strict=False)
    except ValueError as exc:
        raise InvalidNetworkConfig(f"invalid subnet {subnet!r}: {exc}") from exc
    if net.prefixlen > 30:
        raise InvalidNetworkConfig(f"subnet {subnet} is too small (at most /30)")
    if str(net) != subnet.strip() and "/" in subnet:
        raise InvalidNetworkConfig(f"invalid subnet {subnet}: it has host bits set "
                                   f"(did you mean {net}?)")
    if gateway:
        try:
            gw = Addr(gateway)
        except ValueError as exc:
            raise InvalidNetworkConfig(f"invalid gateway {gateway!r}: {exc}") from exc
        if gw not in net or gw in (net.network_address, net.broadcast_address):
            raise InvalidNetworkConfig(f"gateway {gateway} is not a host address of {net}")
    else:
        gw = net.network_address + 1
    return net, gw


class Ipam:
    """Subnets and address leases of every network, persisted in one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        raw = jsonfile.read(path, {}) or {}
        self._nets: dict[str, dict] = {k: {"subnet": v["subnet"], "gateway": v["gateway"],
                                           "leases": dict(v.get("leases", {}))}
                                       for k, v in raw.items()}

    def _save(self) -> None:
        jsonfile.write(self.path, self._nets)

    def _get(self, net_id: str) -> dict:
        try:
            return self._nets[net_id]
        except KeyError:
            raise NetworkNotFound(f"network {net_id} has no address space") from None

    def subnets(self) -> dict[str, Net]:
        """Return every network's subnet by network id."""
        with self._lock:
            return {k: Net(v["subnet"]) for k, v in self._nets.items()}

    def add_network(self, net_id: str, subnet: Net, gateway: Addr) -> None:
        """Register NET_ID's address space; refuse a subnet overlapping another network's."""
        with self._lock:
            for other, v in self._nets.items():
                if other != net_id and Net(v["subnet"]).overlaps(subnet):
                    raise NetworkConflict(f"invalid pool request: pool {subnet} overlaps with "
                                          f"the pool {v['subnet']} of another network")
            if net_id not in self._nets:
                self._nets[net_id] = {"subnet": str(subnet), "gateway": str(gateway),
                                      "leases": {}}
                self._save()

    def remove_network(self, net_id: str) -> None:
        """Forget NET_ID's address space and leases."""
        with self._lock:
            if self._nets.pop(net_id, None) is not None:
                self._save()

    def allocate(self, net_id: str, owner: str, ip: str | None = None) -> Addr:
        """Lease IP (or the lowest free address) on NET_ID to OWNER and persist it."""
        with self._lock:
            n = self._get(net_id)
            net, gw, leases = Net(n["subnet"]), Addr(n["gateway"]), n["leases"]
            if ip:
                try:
                    want = Addr(ip)
                except ValueError as exc:
                    raise InvalidNetworkConfig(f"invalid IPv4 address {ip!r}") from exc
                if want not in net or want in (net.network_address, net.broadcast_address):
                    raise InvalidNetworkConfig(f"address {ip} is not a host address of {net}")
                if want == gw:
                    raise AddressInUse(f"address {ip} is the gateway of the network")
                if leases.get(str(want), owner) != owner:
                    raise AddressInUse(f"address {ip} is already in use on the network")
            else:
                want = self._lowest_free(net, gw, leases)
            leases[str(want)] = owner
            self._save()
            return want

    @staticmethod
    def _lowest_free(net: Net, gw: Addr, leases: dict[str, str]) -> Addr:
        for host in net.hosts():
            if host != gw and str(host) not in leases:
                return host
        raise PoolExhausted(f"no available IPv4 address left in {net}")

    def release(self, net_id: str, ip: str, owner: str | None = None) -> None:
        """Return IP on NET_ID to the free addresses (unknown ones are ignored); with OWNER,
        only if OWNER still holds it."""
        with self._lock:
            n = self._nets.get(net_id)
            if n is None or (owner is not None and n["leases"].get(str(ip)) != owner):
                return
            if n["leases"].pop(str(ip), None) is not None:
                self._save()

    def leases(self, net_id: str) -> dict[str, str]:
        """Return NET_ID's leases, address -> owner."""
        with self._lock:
            return dict(self._get(net_id)["leases"])

    def retain(self, keep: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
        """Make the leases exactly KEEP (net id -> address -> owner); return those dropped."""
        dropped = []
        with self._lock:
            for net_id, n in self._nets.items():
                want = keep.get(net_id, {})
                for ip in list(n["leases"]):
                    if ip not in want:
                        dropped.append((net_id, ip))
                        del n["leases"][ip]
                for ip, owner in want.items():
                    n["leases"][ip] = owner
            self._save()
        return dropped
