"""Addresses on cluster networks: one pool per network, for tasks, VIPs and nodes.

A pool hands out the host addresses of a network's subnet (or of its
`range`, when the IPAM config gives one), never the network address, the
broadcast address or the gateway. Like the subnet allocator it walks on from
the last address it gave instead of taking the lowest free one, so that an
address just released (whose container may still be going away on some
host) is reused as late as possible.

Each used address remembers its holder (a task, service or node id), and a
release by anyone else is ignored: a holder's address is released once even
when the loop hears of its end twice (an event and a rebuild), and never
after it went to someone else.

The pools live in the leader's memory only. The truth is in the store — every
task's `networks[].addresses`, every service's `endpoint.virtual_ips`, every
node's `attachments` — and `AddressSpace.rebuild()` reserves all of them
again when a leader starts, so two live holders never share an address
across a failover.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from shoal.manager.allocator.networks import AllocationError

Net = ipaddress.IPv4Network
Addr = ipaddress.IPv4Address


def mac_of(ip: str) -> str:
    """Return the MAC the engine's overlay gives IP: "02:42:" + its four bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def host_of(cidr: str) -> str:
    """Return the address of CIDR without its prefix ("10.0.0.5/24" -> "10.0.0.5")."""
    return cidr.split("/", 1)[0]


class AddressPool:
    """The free and used addresses of one network's first IPv4 subnet."""

    def __init__(self, subnet: str, gateway: str = "", ip_range: str = "") -> None:
        try:
            self.subnet = Net(subnet, strict=False)
            span = Net(ip_range, strict=False) if ip_range else self.subnet
        except ValueError as exc:
            raise AllocationError(f"invalid subnet {subnet!r}: {exc}") from None
        self.first = int(span.network_address) + (1 if span.prefixlen < 31 else 0)
        self.last = int(span.broadcast_address) - (1 if span.prefixlen < 31 else 0)
        self.used: dict[int, str] = {}  # address -> holder id
        self.reserved: set[int] = set()
        if gateway:
            self.reserved.add(int(Addr(gateway)))
        self._next = self.first

    def __contains__(self, ip: str) -> bool:
        return int(Addr(host_of(ip))) in self.used

    def owner(self, ip: str) -> str | None:
        """Return who holds IP (None: free)."""
        return self.used.get(int(Addr(host_of(ip))))

    def free(self) -> int:
        """Return how many addresses are left."""
        size = self.last - self.first + 1
        return size - len(self.used) - len({r for r in self.reserved
                                            if self.first <= r <= self.last} - set(self.used))

    def reserve(self, cidr: str, owner: str) -> bool:
        """Mark CIDR's address held by OWNER; return False if it is outside the subnet."""
        try:
            ip = Addr(host_of(cidr))
        except ValueError:
            return False
        if ip not in self.subnet:
            return False
        self.used[int(ip)] = owner
        return True

    def release(self, cidr: str, owner: str) -> None:
        """Free CIDR's address if OWNER holds it (else it is not OWNER's to free)."""
        try:
            n = int(Addr(host_of(cidr)))
        except ValueError:
            return
        if self.used.get(n) == owner:
            del self.used[n]

    def allocate(self, owner: str) -> str:
        """Return a free address as CIDR ("10.0.0.7/24"), now held by OWNER."""
        size = self.last - self.first + 1
        for i in range(size):
            n = self.first + (self._next - self.first + i) % size
            if n in self.used or n in self.reserved:
                continue
            self.used[n] = owner
            self._next = n + 1 if n < self.last else self.first
            return f"{Addr(n)}/{self.subnet.prefixlen}"
        raise AllocationError(f"no address left in {self.subnet}")


class AddressSpace:
    """The pools of every cluster network, by network id."""

    def __init__(self) -> None:
        self.pools: dict[str, AddressPool] = {}

    def pool(self, net: Any) -> AddressPool | None:
        """Return NET's pool (made from its allocated IPAM), None if it has no subnet."""
        pool = self.pools.get(net.id)
        if pool is None:
            configs = net.ipam.configs or net.spec.ipam.configs
            if not configs or not configs[0].subnet:
                return None
            c = configs[0]
            try:
                pool = AddressPool(c.subnet, c.gateway, c.range)
            except (AllocationError, ValueError):
                return None
            self.pools[net.id] = pool
        return pool

    def forget(self, network_id: str) -> None:
        self.pools.pop(network_id, None)

    def allocate(self, net: Any, owner: str) -> str:
        pool = self.pool(net)
        if pool is None:
            raise AllocationError(f"network {net.spec.annotations.name} has no subnet")
        try:
            return pool.allocate(owner)
        except AllocationError as exc:
            raise AllocationError(f"network {net.spec.annotations.name}: {exc}") from None

    def reserve(self, network_id: str, cidr: str, owner: str) -> None:
        pool = self.pools.get(network_id)
        if pool is not None:
            pool.reserve(cidr, owner)

    def release(self, network_id: str, cidr: str, owner: str) -> None:
        pool = self.pools.get(network_id)
        if pool is not None:
            pool.release(cidr, owner)

    def rebuild(self, networks: Iterable[Any], tasks: Iterable[Any],
                services: Iterable[Any], nodes: Iterable[Any]) -> None:
        """Reserve every address the store records (a new leader starts from the truth)."""
        self.pools.clear()
        for net in networks:
            self.pool(net)
        for t in tasks:
            for a in t.networks:
                for cidr in a.addresses:
                    self.reserve(a.network.id, cidr, t.id)
        for s in services:
            for vip in s.endpoint.virtual_ips:
                self.reserve(vip.network_id, vip.addr, s.id)
        for n in nodes:
            for a in n.attachments:
                for cidr in a.addresses:
                    self.reserve(a.network.id, cidr, n.id)
