"""Manager addresses: "host:port", "[v6]:port", and where the CA port is.

A manager listens on two ports (tls.py): its main port with mutual TLS, and
the CA port, by default the next one, where nodes without a certificate yet
can call the CA service.
"""

from __future__ import annotations

DEFAULT_PORT = 4242
CA_PORT_OFFSET = 1


def split_host_port(addr: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """Return (host, port) of "host", "host:port", "[v6]:port" or a bare IPv6 address."""
    addr = addr.strip()
    if not addr:
        raise ValueError("empty address")
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0:
            raise ValueError(f"invalid address {addr!r}: missing ']'")
        host, rest = addr[1:end], addr[end + 1 :]
        if not rest:
            return host, default_port
        if not rest.startswith(":"):
            raise ValueError(f"invalid address {addr!r}")
        return host, _port(rest[1:], addr)
    if addr.count(":") > 1:
        return addr, default_port
    host, sep, port = addr.partition(":")
    if not host:
        raise ValueError(f"invalid address {addr!r}: no host")
    return host, _port(port, addr) if sep else default_port


def _port(text: str, addr: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ValueError(f"invalid port in address {addr!r}")
    return int(text)


def join_host_port(host: str, port: int) -> str:
    """Return "host:port", bracketing IPv6 hosts."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def ca_address(addr: str) -> str:
    """Return the CA port's address for a manager's main address (port + 1)."""
    host, port = split_host_port(addr)
    return join_host_port(host, port + CA_PORT_OFFSET)
