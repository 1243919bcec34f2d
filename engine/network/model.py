"""The records the network package persists: networks, endpoints, sandboxes, port mappings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# a network option: "false" keeps its containers' names out of the embedded DNS
DNS_OPTION = "com.shoal.network.dns"


@dataclass
class Network:
    """A network: its kernel device(s), address space and Docker-visible attributes.

    driver is "bridge", "overlay", or "host" / "null" for the two predefined
    pseudo networks (no device, no addresses). For an overlay, vxlan is the
    VXLAN device, peers the remote VTEPs and remote the remote endpoints
    (ip -> {"mac", "vtep", "name", "aliases"}); services the cluster's service
    records on it ({"name", "vip", "task_ips", "aliases"}, records.py) and
    mesh_address this host's address on it for the routing mesh (CIDR,
    mesh.py). Option NO_DNS_OPTION = "false" keeps a network out of the
    embedded DNS (the ingress network, the gateway bridge of overlay tasks).
    """

    id: str
    name: str
    driver: str
    created: str
    subnet: str = ""
    gateway: str = ""
    bridge: str = ""
    internal: bool = False
    attachable: bool = False
    default: bool = False
    mtu: int = 1500
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    vni: int = 0
    vxlan: str = ""
    peers: list[str] = field(default_factory=list)
    remote: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: list[dict[str, Any]] = field(default_factory=list)
    mesh_address: str = ""

    @property
    def has_device(self) -> bool:
        return self.driver in ("bridge", "overlay")

    @property
    def masquerade(self) -> bool:
        """Tell whether outbound traffic is NATed (non-internal bridges only)."""
        return (self.driver == "bridge" and not self.internal
                and self.options.get("com.docker.network.bridge.enable_ip_masquerade",
                                     "true") == "true")

    @property
    def routed(self) -> bool:
        """Tell whether containers get a default route and may leave the network."""
        return self.driver == "bridge" and not self.internal

    @property
    def icc(self) -> bool:
        return self.options.get("com.docker.network.bridge.enable_icc", "true") == "true"

    @property
    def dns(self) -> bool:
        """Tell whether the embedded DNS serves names on this network (user-defined only)."""
        return self.has_device and not self.default and self.options.get(DNS_OPTION) != "false"


@dataclass
class Endpoint:
    """One container's attachment to one network: a veth pair with one address."""

    id: str
    network_id: str
    container_id: str
    name: str
    ifname: str
    host_veth: str
    mac: str
    ip: str
    prefixlen: int
    aliases: list[str] = field(default_factory=list)


@dataclass
class PortMapping:
    """One published port: HOST_IP:HOST_PORT/PROTO -> CONTAINER_IP:CONTAINER_PORT."""

    proto: str
    host_ip: str
    host_port: int
    container_port: int
    container_ip: str = ""
    network_id: str = ""

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.proto}"


@dataclass
class ServicePorts:
    """A cluster service's ingress ports on this host and the backends that serve them.

    ports are [proto, published, target]; backends container ids or IPv4
    addresses (see ingress.py).
    """

    service_id: str
    ports: list[list[Any]] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)


@dataclass
class Sandbox:
    """A container's network namespace, its endpoints (in attach order) and its ports."""

    container_id: str
    path: str
    endpoints: list[Endpoint] = field(default_factory=list)
    ports: list[PortMapping] = field(default_factory=list)
    dns_ports: list[int] = field(default_factory=list)  # embedded DNS (UDP, TCP), if serving

    def endpoint(self, network_id: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.network_id == network_id), None)


def to_dict(obj: Any) -> dict[str, Any]:
    """Return the JSON-able form of a record."""
    return asdict(obj)


def network_from(d: dict[str, Any]) -> Network:
    names = {f.name for f in fields(Network)}
    return Network(**{k: v for k, v in d.items() if k in names})


def sandbox_from(d: dict[str, Any]) -> Sandbox:
    return Sandbox(
        container_id=d["container_id"], path=d["path"],
        endpoints=[Endpoint(**e) for e in d.get("endpoints", [])],
        ports=[PortMapping(**p) for p in d.get("ports", [])],
        dns_ports=list(d.get("dns_ports", [])),
    )
