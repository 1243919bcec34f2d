"""Where a registry is and how to reach it: scheme, TLS trust, API base URL.

Policy, as dockerd's:
- HTTPS by default, verified against the system CAs plus
  <certs_dir>/<host:port>/*.crt (Docker's certs.d; client.cert/client.key for mTLS);
- plain HTTP for loopback hosts (localhost, 127.0.0.0/8, ::1) and for registries
  listed as insecure ("host", "host:port" or a CIDR of IPs), unless certs.d
  has a CA for that host, which asks for HTTPS;
- docker.io is served by registry-1.docker.io.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from shoal.engine.images.reference import DEFAULT_DOMAIN

DOCKER_HUB_API = "registry-1.docker.io"


@dataclass(frozen=True)
class Endpoint:
    """A registry's API endpoint: host (as named in references), scheme, TLS context."""

    host: str
    scheme: str
    ssl: ssl.SSLContext | None = None

    @property
    def base_url(self) -> str:
        api_host = DOCKER_HUB_API if self.host == DEFAULT_DOMAIN else self.host
        return f"{self.scheme}://{api_host}/v2/"

    def url(self, path: str) -> str:
        """Return the URL of PATH under /v2/ (PATH without the leading slash)."""
        return self.base_url + path


def split_host(host: str) -> tuple[str, int | None]:
    """Split "h:5000", "[::1]:5000" or "h" into (hostname, port)."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, int(rest[1:]) if rest.startswith(":") else None
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name, int(port)
    return host, None


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    name, _ = split_host(host)
    ip = _ip(name)
    return name == "localhost" or (ip is not None and ip.is_loopback)


def is_insecure(host: str, insecure: list[str]) -> bool:
    """Tell whether HOST is loopback or matches an --insecure-registry entry."""
    if is_loopback(host):
        return True
    name, _ = split_host(host)
    ip = _ip(name)
    for entry in insecure:
        e = entry.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
        if e in (host, name):
            return True
        if "/" in e and ip is not None:
            try:
                if ip in ipaddress.ip_network(e, strict=False):
                    return True
            except ValueError:
                continue
    return False


def _tls_context(host_dir: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    for ca in sorted(host_dir.glob("*.crt")):
        if ca.name != "client.cert":
            ctx.load_verify_locations(cafile=str(ca))
    cert, key = host_dir / "client.cert", host_dir / "client.key"
    if cert.is_file() and key.is_file():
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def resolve(host: str, insecure: list[str], certs_dir: Path) -> Endpoint:
    """Return how to reach the registry HOST under the policy above."""
    host_dir = Path(certs_dir) / host
    has_ca = host_dir.is_dir() and any(host_dir.glob("*.crt"))
    if has_ca:
        return Endpoint(host, "https", _tls_context(host_dir))
    if is_insecure(host, insecure):
        return Endpoint(host, "http")
    return Endpoint(host, "https", ssl.create_default_context())
