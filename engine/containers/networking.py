"""Give a container its network: sandbox, endpoints, published ports, /etc files.

The container service calls `attach` before the runtime starts the process
(the shim joins the sandbox's netns) and `detach` once it has exited, like
Docker, which releases addresses and ports of a stopped container.
Synchronous: call through asyncio.to_thread.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shoal.engine.containers.model import Container
from shoal.engine.errors import EngineError
from shoal.engine.network import etcfiles


class NetworksLike(Protocol):
    def get(self, ref: str) -> Any: ...
    def sandbox_create(self, cid: str) -> str: ...
    def sandbox_remove(self, cid: str) -> None: ...
    def sandbox_path(self, cid: str) -> str | None: ...
    def connect(self, network: str, cid: str, name: str, aliases: Any = (),
                ip: str | None = None) -> dict[str, Any]: ...
    def disconnect(self, network: str, cid: str, force: bool = False) -> None: ...
    def publish(self, cid: str, port_bindings: Any, exposed_ports: Any = (),
                publish_all: bool = False) -> dict[str, Any]: ...
    def resolv_conf(self, cid: str, dns: Any = (), search: Any = (),
                    options: Any = ()) -> str: ...
    def hosts(self, cid: str, hostname: str, aliases: Any = (),
              extra_hosts: Any = ()) -> str: ...
    def endpoint_settings(self, cid: str, exposed: Any = ()) -> dict[str, Any]: ...


@dataclass
class Attachment:
    """Where the process's network namespace is, and the contents of its /etc files."""

    net_namespace: str  # "new", "host" or a netns path
    files: dict[str, str] = field(default_factory=dict)


def network_name(c: Container) -> str:
    """Return the container's primary network: NetworkMode, with default → bridge."""
    mode = c.HostConfig.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


def _host_resolv_conf() -> str:
    """Return the host's resolver settings for a container (loopback servers dropped)."""
    try:
        text = Path("/etc/resolv.conf").read_text()
    except OSError:
        text = ""
    return etcfiles.resolv_conf(text, embedded_dns=False)


def _endpoints(c: Container) -> dict[str, Any]:
    """Return EndpointsConfig with "default" (what the docker CLI sends) as the real name."""
    eps = dict((c.NetworkingConfig or {}).get("EndpointsConfig") or {})
    if "default" in eps:
        eps.setdefault(network_name(c), eps.pop("default"))
    return eps


def _endpoint_config(c: Container, net: str) -> dict[str, Any]:
    return _endpoints(c).get(net) or {}


def _aliases(c: Container, net: str) -> list[str]:
    return list(_endpoint_config(c, net).get("Aliases") or [])


def _ip(c: Container, net: str) -> str | None:
    ipam = _endpoint_config(c, net).get("IPAMConfig") or {}
    return ipam.get("IPv4Address") or None


class ContainerNetworking:
    """Attach and detach containers; works without a NetworkService (none/host only)."""

    def __init__(self, networks: NetworksLike | None) -> None:
        self.networks = networks

    @staticmethod
    def network_of(c: Container) -> str:
        return network_name(c)

    def check(self, c: Container) -> None:
        """Raise NotFound for a network the container names that does not exist."""
        net = network_name(c)
        if net in ("none", "host"):
            return
        if self.networks is None:
            if net == "bridge":
                return  # an engine without networking gives the default an isolated netns
            from shoal.engine.containers.errors import InvalidConfig

            raise InvalidConfig(f"network {net} not found (networking is disabled)")
        n = self.networks.get(net)
        if _ip(c, net) and getattr(n, "default", False):
            from shoal.engine.containers.errors import InvalidConfig

            raise InvalidConfig(
                "user specified IP address is supported on user defined networks only"
            )
        for extra in _endpoints(c):
            if extra not in ("none", "host"):
                self.networks.get(extra)

    def attach(self, c: Container) -> Attachment:
        hostname = c.Config.get("Hostname") or c.Id[:12]
        net = network_name(c)
        if net == "host":
            hosts = Path("/etc/hosts").read_text() if os.path.exists("/etc/hosts") \
                else etcfiles.LOCALHOST
            return Attachment("host", {"hosts": hosts, "hostname": os.uname().nodename + "\n",
                                       "resolv.conf": _host_resolv_conf()})
        if net == "none" or self.networks is None:
            return Attachment("new", {"hosts": etcfiles.hosts(hostname, ["127.0.1.1"]),
                                      "hostname": hostname + "\n",
                                      "resolv.conf": _host_resolv_conf()})
        nets = self.networks
        path = nets.sandbox_create(c.Id)
        try:
            nets.connect(net, c.Id, c.Name, _aliases(c, net), _ip(c, net))
            for extra in _endpoints(c):
                if extra != net and extra not in ("none", "host"):
                    nets.connect(extra, c.Id, c.Name, _aliases(c, extra), _ip(c, extra))
            nets.publish(c.Id, c.HostConfig.get("PortBindings"),
                         list((c.Config.get("ExposedPorts") or {}).keys()),
                         bool(c.HostConfig.get("PublishAllPorts")))
            hc = c.HostConfig
            files = {
                "hostname": hostname + "\n",
                "hosts": nets.hosts(c.Id, hostname, [], hc.get("ExtraHosts") or []),
                "resolv.conf": nets.resolv_conf(c.Id, hc.get("Dns") or [],
                                                hc.get("DnsSearch") or [],
                                                hc.get("DnsOptions") or []),
            }
        except BaseException:
            with contextlib.suppress(EngineError, OSError):
                nets.sandbox_remove(c.Id)
            raise
        return Attachment(path, files)

    def detach(self, c: Container) -> None:
        """Release the container's addresses, ports and namespace (nothing there is fine)."""
        if self.networks is not None:
            self.networks.sandbox_remove(c.Id)

    def settings(self, c: Container) -> dict[str, Any] | None:
        """Return NetworkSettings for inspect, or None when the container has no sandbox."""
        if self.networks is None or self.networks.sandbox_path(c.Id) is None:
            return None
        exposed = list((c.Config.get("ExposedPorts") or {}).keys())
        return self.networks.endpoint_settings(c.Id, exposed)
