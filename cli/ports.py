"""Parse ``-p/--publish`` and ``--expose`` values as the docker CLI does (go-connections/nat).

``-p [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`` (ranges ``8000-8001:80-81``, a host
range for one container port ``8000-8010:80``, IPv6 as ``[::1]:8080:80``) and
the long form ``published=8080,target=80,protocol=udp``. Every ``-p`` publishes:
``-p 80`` binds container port 80 to a host port the daemon picks (HostPort "").
"""

from __future__ import annotations

_PROTOS = ("tcp", "udp", "sctp")


def _uint16(s: str) -> int:
    """Parse as Go's strconv.ParseUint(s, 10, 16), with its error wording."""
    if not (s.isascii() and s.isdigit()):
        raise ValueError(f'strconv.ParseUint: parsing "{s}": invalid syntax')
    n = int(s)
    if n > 0xFFFF:
        raise ValueError(f'strconv.ParseUint: parsing "{s}": value out of range')
    return n


def parse_port_range(ports: str) -> tuple[int, int]:
    """Return (start, end) of ``80`` or ``8000-9000`` (nat.ParsePortRange)."""
    if not ports:
        raise ValueError("empty string specified for ports")
    if "-" not in ports:
        p = _uint16(ports)
        return p, p
    parts = ports.split("-")
    start, end = _uint16(parts[0]), _uint16(parts[1])
    if end < start:
        raise ValueError(f"invalid range specified for port: {ports}")
    return start, end


def split_proto_port(raw: str) -> tuple[str, str]:
    """Split ``80/udp`` into ("udp", "80"); the protocol defaults to tcp."""
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1:
        return "tcp", raw
    if not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    n = len(parts)
    if n == 1:
        return "", "", parts[0]
    if n == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:n - 2]), parts[n - 2], parts[n - 1]


def _standard_notation(value: str) -> str:
    params = {"protocol": "tcp"}
    for param in value.split(","):
        k, eq, v = param.partition("=")
        if not eq or not k:
            raise ValueError(
                f"invalid publish opts format (should be name=value but got '{param}')")
        params[k] = v
    return f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"


def parse_publish(value: str) -> list[tuple[str, dict[str, str]]]:
    """Return [("80/tcp", {"HostIp": "", "HostPort": "8080"}), ...] for one ``-p`` value."""
    from .netopts import ip_bytes

    raw = _standard_notation(value) if "=" in value else value
    ip, host, cport = _split_parts(raw)
    proto, cport = split_proto_port(cport)
    if ip.startswith("["):
        if not ip.endswith("]") or "]" in ip[1:-1]:
            raise ValueError(f"invalid IP address {ip}: missing ']' in address")
        ip = ip[1:-1]
    if ip and ip_bytes(ip) is None:
        raise ValueError(f"invalid IP address: {ip}")
    if not cport:
        raise ValueError(f"no port specified: {raw}<empty>")
    try:
        start, end = parse_port_range(cport)
    except ValueError:
        raise ValueError(f"invalid containerPort: {cport}") from None
    hstart = hend = 0
    if host:
        try:
            hstart, hend = parse_port_range(host)
        except ValueError:
            raise ValueError(f"invalid hostPort: {host}") from None
    if host and end - start != hend - hstart and end != start:
        raise ValueError(
            f"invalid ranges specified for container and host Ports: {cport} and {host}")
    if proto.lower() not in _PROTOS:
        raise ValueError(f"invalid proto: {proto}")
    out = []
    for i in range(end - start + 1):
        host_port = str(hstart + i) if host else ""
        if start == end and hstart != hend:
            host_port = f"{host_port}-{hend}"
        out.append((f"{start + i}/{proto.lower()}", {"HostIp": ip, "HostPort": host_port}))
    return out


def parse_expose(value: str) -> list[str]:
    """Return the ports ``--expose 80``, ``--expose 8000-8001/udp`` name: ["8000/udp", ...]."""
    if ":" in value:
        raise ValueError(f"invalid port format for --expose: {value}")
    proto, port = split_proto_port(value)
    try:
        start, end = parse_port_range(port)
    except ValueError as exc:
        raise ValueError(f"invalid range format for --expose: {value}, error: {exc}") from None
    if proto.lower() not in _PROTOS:
        raise ValueError(f"invalid proto: {proto}")
    return [f"{p}/{proto.lower()}" for p in range(start, end + 1)]
