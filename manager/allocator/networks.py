"""Network allocation: a subnet and gateway per cluster network, a VXLAN VNI per overlay.

`NetworkAllocator.allocate(net, others)` fills `net.ipam` (the subnet and
gateway the network really uses) and `net.driver_state` (the driver name and,
for overlays, `com.docker.network.driver.overlay.vxlanid_list`), as SwarmKit's
allocator does, at CreateNetwork time so that every task made afterwards
carries a complete copy of the network.

- Subnets: an explicit `spec.ipam.configs[0].subnet` is honoured (refused if
  it overlaps another cluster network); otherwise the pool (Docker's default
  address pool, 10.0.0.0/8 cut in /24s) is walked from just after the last
  subnet this allocator handed out, wrapping around, and the first /24 that
  overlaps neither another cluster network (pending deletion included) nor
  a route of this manager's host is taken. Walking on instead of taking the
  lowest free one keeps a subnet that was just released (whose bridges may
  still be going away on some host) unused for as long as possible.
- Gateway: the explicit one, else the subnet's first address.
- VNI: the requested one (`vxlanid_list` option) if free, else the next free
  one from 4097 on, again walking on from the last one handed out.

The walking positions live in memory: after a manager restart (or on
another manager) the walk starts over, which is still correct, only less
conservative. Two managers allocating at the same instant could pick the same
subnet; the allocator's lock only serialises one manager's calls.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shoal.proto.shoal.v1 import objects_pb2, types_pb2

VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
VNI_FIRST = 4097
VNI_LAST = (1 << 24) - 1
Net = ipaddress.IPv4Network
DEFAULT_POOL = Net("10.0.0.0/8")


class AllocationError(Exception):
    """No subnet or VNI can be given (pool exhausted, overlap, bad request)."""


@dataclass(frozen=True)
class Pool:
    """Where subnets come from: BASE cut in subnets of SIZE bits (Docker's default)."""

    base: Net = DEFAULT_POOL
    size: int = 24

    def __len__(self) -> int:
        return 1 << (self.size - self.base.prefixlen)

    def __getitem__(self, k: int) -> Net:
        start = int(self.base.network_address) + (k << (32 - self.size))
        return Net((start, self.size))


def host_routes(path: str = "/proc/net/route") -> list[Net]:
    """Return the IPv4 destinations this host routes (no default route)."""
    out: list[Net] = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dst = socket.inet_ntoa(struct.pack("<I", int(fields[1], 16)))
            mask = socket.inet_ntoa(struct.pack("<I", int(fields[7], 16)))
            net = Net(f"{dst}/{mask}", strict=False)
        except (ValueError, OSError):
            continue
        if net.prefixlen > 0:
            out.append(net)
    return out


def subnets_of(net: objects_pb2.Network) -> list[Net]:
    """Return the IPv4 subnets NET uses (allocated, else asked)."""
    ipam = net.ipam if net.ipam.configs else net.spec.ipam
    out = []
    for c in ipam.configs:
        try:
            n = ipaddress.ip_network(c.subnet, strict=False)
        except ValueError:
            continue
        if isinstance(n, Net):
            out.append(n)
    return out


def vni_of(net: objects_pb2.Network) -> int:
    """Return NET's allocated VNI (0: none)."""
    text = net.driver_state.options.get(VNI_OPTION, "").split(",")[0]
    return int(text) if text.isdigit() else 0


class NetworkAllocator:
    """Chooses subnets and VNIs for cluster networks (one per manager, held by the Control API)."""

    def __init__(self, pool: Pool | None = None,
                 routes: Callable[[], list[Net]] = host_routes) -> None:
        self.pool = pool or Pool()
        self.routes = routes
        self.lock = asyncio.Lock()
        self._next_subnet = 0
        self._next_vni = VNI_FIRST

    def allocate(self, net: objects_pb2.Network, others: Iterable[objects_pb2.Network]) -> None:
        """Fill NET's ipam and driver_state, avoiding OTHERS (every other cluster network)."""
        others = [o for o in others if o.id != net.id]
        used = [s for o in others for s in subnets_of(o)]
        net.ipam.Clear()
        net.ipam.driver.CopyFrom(net.spec.ipam.driver)
        if not net.ipam.driver.name:
            net.ipam.driver.name = "default"
        asked = list(net.spec.ipam.configs)
        for cfg in asked or [types_pb2.IPAMConfig()]:
            subnet = self._explicit(cfg.subnet, used) if cfg.subnet else self._pick(used)
            used.append(subnet)
            gateway = cfg.gateway or str(subnet.network_address + 1)
            net.ipam.configs.add(subnet=str(subnet), range=cfg.range, gateway=gateway,
                                 reserved=dict(cfg.reserved))
        driver = net.spec.driver_config.name or "overlay"
        net.driver_state.Clear()
        net.driver_state.name = driver
        if driver == "overlay":
            taken = {vni_of(o) for o in others}
            net.driver_state.options[VNI_OPTION] = str(self._vni(net, taken))

    def _explicit(self, text: str, used: list[Net]) -> Net:
        try:
            subnet = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise AllocationError(f"invalid subnet {text!r}: {exc}") from None
        if not isinstance(subnet, Net):
            raise AllocationError(f"subnet {text}: only IPv4 is supported")
        for other in used:
            if subnet.overlaps(other):
                raise AllocationError(f"invalid pool request: pool {subnet} overlaps with "
                                      f"the subnet {other} of another network")
        return subnet

    def _pick(self, used: list[Net]) -> Net:
        avoid = used + self.routes()
        n = len(self.pool)
        for i in range(n):
            k = (self._next_subnet + i) % n
            candidate = self.pool[k]
            if not any(candidate.overlaps(a) for a in avoid):
                self._next_subnet = (k + 1) % n
                return candidate
        raise AllocationError("could not find an available, non-overlapping IPv4 address "
                              f"pool among the defaults ({self.pool.base}) to assign to the "
                              "network")

    def _vni(self, net: objects_pb2.Network, taken: set[int]) -> int:
        text = net.spec.driver_config.options.get(VNI_OPTION, "").split(",")[0].strip()
        if text:
            if not text.isdigit() or not VNI_FIRST - 1 <= int(text) <= VNI_LAST:
                raise AllocationError(f"invalid VXLAN id {text!r} (4096-{VNI_LAST})")
            if int(text) in taken:
                raise AllocationError(f"VXLAN id {text} is used by another network")
            return int(text)
        span = VNI_LAST - VNI_FIRST + 1
        for i in range(span):
            vni = VNI_FIRST + (self._next_vni - VNI_FIRST + i) % span
            if vni not in taken:
                self._next_vni = vni + 1 if vni < VNI_LAST else VNI_FIRST
                return vni
        raise AllocationError("no VXLAN id left")
