"""Published ports: parse Docker's port specs, pick host ports, hold them.

A published port is a DNAT rule (firewall.py), not a proxy process, so it
survives a restart of the daemon. To keep a host process from taking a
published port (and to find the ones already taken) the service binds a
socket on HOST_IP:HOST_PORT and holds it, without listening, while the
mapping exists; binding port 0 is how -P gets an ephemeral port.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

from shoal.engine.network import nsutil
from shoal.engine.network.errors import InvalidNetworkConfig, PortInUse
from shoal.engine.network.model import PortMapping

PROTOS = ("tcp", "udp")


def _port(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise InvalidNetworkConfig(f"invalid {what} port {text!r}") from None
    if not 1 <= n <= 65535:
        raise InvalidNetworkConfig(f"invalid {what} port {n}: out of range 1-65535")
    return n


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Parse `-p [IP:][HOST:]CONTAINER[/PROTO]` into ("80/tcp", {"HostIp", "HostPort"})."""
    rest, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in PROTOS:
        raise InvalidNetworkConfig(f"invalid protocol {proto!r} in {spec!r} (tcp or udp)")
    parts = rest.rsplit(":", 2)
    host_ip = host_port = ""
    if len(parts) == 3:
        host_ip, host_port, cport = parts
    elif len(parts) == 2:
        host_port, cport = parts
    else:
        (cport,) = parts
    host_ip = host_ip.strip("[]")
    if host_ip:
        try:
            ipaddress.IPv4Address(host_ip)
        except ValueError:
            raise InvalidNetworkConfig(f"invalid host IP {host_ip!r} in {spec!r}") from None
    _port(cport, "container")
    if host_port:
        _port(host_port, "host")
    return f"{int(cport)}/{proto}", {"HostIp": host_ip, "HostPort": host_port}


def wanted(port_bindings: dict[str, Any] | None, exposed: Iterable[str] = (),
           publish_all: bool = False) -> list[tuple[str, int, str, int]]:
    """Return (proto, container port, host ip, host port or 0) for HostConfig.PortBindings.

    With PUBLISH_ALL (-P) every exposed port not bound explicitly gets an
    ephemeral host port, as with Docker.
    """
    out: list[tuple[str, int, str, int]] = []
    bound = set()
    for key, bindings in (port_bindings or {}).items():
        cport, _, proto = key.partition("/")
        proto = proto or "tcp"
        if proto not in PROTOS:
            raise InvalidNetworkConfig(f"invalid protocol in port {key!r}")
        cp = _port(cport, "container")
        bound.add((proto, cp))
        for b in bindings or [{}]:
            hp = (b or {}).get("HostPort") or ""
            out.append((proto, cp, (b or {}).get("HostIp") or "", _port(hp, "host") if hp else 0))
    if publish_all:
        for key in exposed:
            cport, _, proto = key.partition("/")
            proto = proto or "tcp"
            if (proto, _port(cport, "container")) not in bound and proto in PROTOS:
                out.append((proto, int(cport), "", 0))
    return out


def overlaps(a: PortMapping, proto: str, host_ip: str, host_port: int) -> bool:
    """Tell whether mapping A takes HOST_IP:HOST_PORT/PROTO (0.0.0.0 takes every address)."""
    if a.proto != proto or a.host_port != host_port:
        return False
    wild = ("", "0.0.0.0")
    return a.host_ip in wild or host_ip in wild or a.host_ip == host_ip


class PortHolder:
    """Bound sockets that reserve published host ports (in namespace NETNS)."""

    def __init__(self, netns: str | None) -> None:
        self.netns = netns
        self._socks: dict[tuple[str, str, int], socket.socket] = {}

    def hold(self, proto: str, host_ip: str, host_port: int) -> int:
        """Bind HOST_IP:HOST_PORT/PROTO (port 0: any free one) and return the port held."""
        addr = host_ip or "0.0.0.0"
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM

        def bind() -> socket.socket:
            s = socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC)
            try:
                s.bind((addr, host_port))
            except BaseException:
                s.close()
                raise
            return s

        try:
            s = nsutil.run_in(self.netns, bind)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(f"Bind for {addr}:{host_port} failed: port is already "
                                "allocated") from exc
            if exc.errno == errno.EADDRNOTAVAIL:
                raise InvalidNetworkConfig(f"cannot publish on {addr}: not an address of "
                                           "this host") from exc
            raise PortInUse(f"cannot bind {addr}:{host_port}/{proto}: {exc}") from exc
        port = s.getsockname()[1]
        self._socks[(proto, addr, port)] = s
        return int(port)

    def release(self, proto: str, host_ip: str, host_port: int) -> None:
        """Close the socket holding HOST_IP:HOST_PORT/PROTO, if any."""
        s = self._socks.pop((proto, host_ip or "0.0.0.0", host_port), None)
        if s is not None:
            s.close()

    def close(self) -> None:
        """Close every held socket (the DNAT rules stay: the ports keep working)."""
        for s in self._socks.values():
            with contextlib.suppress(OSError):
                s.close()
        self._socks.clear()


def ports_view(mappings: Iterable[PortMapping], exposed: Iterable[str] = ()) -> dict[str, Any]:
    """Return NetworkSettings.Ports: {"80/tcp": [{"HostIp", "HostPort"}] or None}."""
    out: dict[str, Any] = {k: None for k in exposed}
    for m in mappings:
        out.setdefault(m.key, None)
        if out[m.key] is None:
            out[m.key] = []
        out[m.key].append({"HostIp": m.host_ip or "0.0.0.0", "HostPort": str(m.host_port)})
    return out
