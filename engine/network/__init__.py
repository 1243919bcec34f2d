"""Engine networking: IPAM, bridge and overlay drivers, firewall, published ports, DNS."""
