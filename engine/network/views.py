"""Docker-shaped JSON views of networks and of a container's network settings."""

from __future__ import annotations

from typing import Any

from shoal.engine.network.model import Endpoint, Network, Sandbox
from shoal.engine.network.ports import ports_view

DRIVER_NAME = {"bridge": "bridge", "overlay": "overlay", "host": "host", "null": "null"}


def network(n: Network, endpoints: list[Endpoint]) -> dict[str, Any]:
    """Return `GET /networks/{id}` for N with its local ENDPOINTS."""
    cfg = [{"Subnet": n.subnet, "Gateway": n.gateway}] if n.subnet else []
    options = dict(n.options)
    if n.driver == "bridge":
        options.setdefault("com.docker.network.bridge.name", n.bridge)
        if n.default:
            options.setdefault("com.docker.network.bridge.default_bridge", "true")
            options.setdefault("com.docker.network.bridge.enable_icc", "true")
            options.setdefault("com.docker.network.bridge.enable_ip_masquerade", "true")
            options.setdefault("com.docker.network.driver.mtu", str(n.mtu))
    if n.driver == "overlay":
        options.setdefault("com.docker.network.driver.overlay.vxlanid_list", str(n.vni))
    return {
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": DRIVER_NAME.get(n.driver, n.driver),
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": cfg},
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {
            e.container_id: {
                "Name": e.name,
                "EndpointID": e.id,
                "MacAddress": e.mac,
                "IPv4Address": f"{e.ip}/{e.prefixlen}",
                "IPv6Address": "",
            }
            for e in endpoints
        },
        "Options": options,
        "Labels": dict(n.labels),
    }


def endpoint_settings(n: Network, e: Endpoint) -> dict[str, Any]:
    """Return Docker's EndpointSettings (NetworkSettings.Networks[name]) for E on N."""
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": list(e.aliases) or None,
        "MacAddress": e.mac,
        "NetworkID": n.id,
        "EndpointID": e.id,
        "Gateway": n.gateway if n.routed else "",
        "IPAddress": e.ip,
        "IPPrefixLen": e.prefixlen,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": [e.name, e.container_id[:12], *e.aliases] if n.dns else None,
    }


def network_settings(sb: Sandbox | None, networks: dict[str, Network],
                     exposed: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """Return a container's NetworkSettings (Networks, Ports, SandboxKey, primary address)."""
    nets: dict[str, Any] = {}
    primary: dict[str, Any] = {}
    for e in sb.endpoints if sb else []:
        n = networks.get(e.network_id)
        if n is None:
            continue
        nets[n.name] = endpoint_settings(n, e)
        if not primary:
            primary = nets[n.name]
    return {
        "Bridge": "",
        "SandboxID": sb.container_id if sb else "",
        "SandboxKey": sb.path if sb else "",
        "Ports": ports_view(sb.ports if sb else [], exposed),
        "Gateway": primary.get("Gateway", ""),
        "IPAddress": primary.get("IPAddress", ""),
        "IPPrefixLen": primary.get("IPPrefixLen", 0),
        "MacAddress": primary.get("MacAddress", ""),
        "EndpointID": primary.get("EndpointID", ""),
        "Networks": nets,
    }
