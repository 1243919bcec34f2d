"""The allocator (DESIGN.md §4): what the manager chooses for networks and ports.

    allocator = NetworkAllocator()                 # held by the Control API
    allocator.allocate(network, other_networks)    # fills network.ipam and driver_state
    ports = endpoint_ports(spec_ports, previous_ports, used_by_others)
    reaper.NetworkReaper(store).run()              # leader loop: deletes pending_delete networks

Subnets come from 10.0.0.0/8 in /24s avoiding the host's routes and the other
cluster networks; overlays get a VXLAN VNI from 4097 on; ingress ports asked
as 0 get one in 30000-32767. Task addresses and service VIPs are not
allocated yet: on one host each engine's IPAM gives addresses, and service
names resolve to every task (DNS round robin). See docs/network.md, "Cluster
networks".
"""

from shoal.manager.allocator.networks import (
    VNI_OPTION,
    AllocationError,
    NetworkAllocator,
    Pool,
    host_routes,
)
from shoal.manager.allocator.ports import endpoint_ports

__all__ = [
    "VNI_OPTION",
    "AllocationError",
    "NetworkAllocator",
    "Pool",
    "endpoint_ports",
    "host_routes",
]
