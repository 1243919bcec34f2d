"""Published ports: an ingress port asked as 0 gets one from Docker's dynamic range.

`endpoint_ports(wanted, previous, used)` returns the ports a service
publishes (Service.endpoint.ports): what the spec asks, except that an
ingress port with published_port 0 keeps the port it had before (same target
and protocol) or takes the lowest free one in 30000-32767 — the cluster owns
ingress ports, so "free" means no other service publishes it. Host-mode ports
stay as asked (0 lets each engine pick).
"""

from __future__ import annotations

from collections.abc import Iterable

from shoal.manager.allocator.networks import AllocationError
from shoal.proto.shoal.v1 import types_pb2

DYNAMIC_FIRST = 30000
DYNAMIC_LAST = 32767
INGRESS = types_pb2.PortConfig.INGRESS


def endpoint_ports(wanted: Iterable[types_pb2.PortConfig],
                   previous: Iterable[types_pb2.PortConfig],
                   used: Iterable[tuple[int, int]]) -> list[types_pb2.PortConfig]:
    """Return WANTED with dynamic ingress ports filled (USED: (protocol, port) of others)."""
    taken = set(used)
    before = {(p.protocol, p.target_port): p.published_port for p in previous
              if p.publish_mode == INGRESS and p.published_port}
    out = []
    wanted = list(wanted)
    taken |= {(p.protocol, p.published_port) for p in wanted if p.published_port}
    for p in wanted:
        q = types_pb2.PortConfig()
        q.CopyFrom(p)
        if q.publish_mode == INGRESS and not q.published_port:
            port = before.get((q.protocol, q.target_port), 0)
            if not port or (q.protocol, port) in taken:
                port = _free(q.protocol, taken)
            q.published_port = port
            taken.add((q.protocol, port))
        out.append(q)
    return out


def _free(protocol: int, taken: set[tuple[int, int]]) -> int:
    for port in range(DYNAMIC_FIRST, DYNAMIC_LAST + 1):
        if (protocol, port) not in taken:
            return port
    raise AllocationError(f"no free published port left in {DYNAMIC_FIRST}-{DYNAMIC_LAST}")
