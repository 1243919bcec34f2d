"""The allocator (DESIGN.md §4): what the manager chooses for networks and ports.

    allocator = NetworkAllocator()                 # held by the Control API
    allocator.allocate(network, other_networks)    # fills network.ipam and driver_state
    ports = endpoint_ports(spec_ports, previous_ports, used_by_others)
    reaper.NetworkReaper(store).run()              # leader loop: deletes pending_delete networks

    attachments.Allocator(store).run()             # leader loop: task addresses, VIPs, ingress

Subnets come from 10.0.0.0/8 in /24s avoiding the host's routes and the other
cluster networks; overlays get a VXLAN VNI from 4097 on; ingress ports asked
as 0 get one in 30000-32767. The allocator loop gives tasks their addresses,
services their VIPs and nodes their ingress address, and makes the ingress
network. See docs/network.md, "Multi-host networks: the manager side".
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
