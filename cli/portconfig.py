"""Parse published ports of services (``--publish``, Compose ``ports``) into Docker's PortConfig.

A PortConfig is ``{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
"PublishMode": "ingress"}``. The syntaxes are docker's opts.PortOpt:

- short ``[PUBLISHED:]TARGET[/PROTO]``, ranges ``8080-8081:80-81`` (one entry
  per port) and a published range for one target ``8080-8082:80``; always ingress;
- long ``mode=host,published=8080,target=80,protocol=udp`` (``target`` required).
"""

from __future__ import annotations

from .opts import split_csv
from .ports import parse_port_range, split_proto_port

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PROTOCOLS = ("tcp", "udp", "sctp")
MODES = ("ingress", "host")


def port_config(target: int, published: int = 0, protocol: str = "tcp",
                mode: str = "ingress") -> dict[str, Any]:
    """Return one PortConfig in Docker's field order."""
    return {"Protocol": protocol, "TargetPort": target, "PublishedPort": published,
            "PublishMode": mode}


def _uint16(value: str, what: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) > 0xFFFF:
        raise ValueError(f'invalid {what} "{value}": must be a port number (0-65535)')
    return int(value)


def parse_long(value: str) -> dict[str, Any]:
    """Parse ``mode=host,published=8080,target=80,protocol=udp``."""
    cfg = port_config(0)
    for field in split_csv(value):
        key, eq, val = field.lower().partition("=")
        if not eq or not key:
            raise ValueError(f"invalid field {field}")
        if key == "protocol":
            if val not in PROTOCOLS:
                raise ValueError(f"invalid protocol value {val}")
            cfg["Protocol"] = val
        elif key == "mode":
            if val not in MODES:
                raise ValueError(f"invalid publish mode value {val}")
            cfg["PublishMode"] = val
        elif key == "target":
            cfg["TargetPort"] = _uint16(val, "target port")
        elif key == "published":
            cfg["PublishedPort"] = _uint16(val, "published port")
        else:
            raise ValueError(f"invalid field key {key}")
    if not cfg["TargetPort"]:
        raise ValueError('missing mandatory field "target"')
    return cfg


def parse_short(value: str, allow_ip: bool = False) -> tuple[list[dict[str, Any]], str]:
    """Parse ``[IP:][PUBLISHED:]TARGET[/PROTO]``; return (configs, the host IP given or "")."""
    proto, spec = split_proto_port(value)
    proto = proto.lower()
    if proto not in PROTOCOLS:
        raise ValueError(f"invalid proto: {proto}")
    ip = ""
    if spec.startswith("["):
        end = spec.find("]:")
        if end < 0:
            raise ValueError(f"invalid port format: {value}")
        ip, spec = spec[1:end], spec[end + 2:]
    parts = spec.split(":")
    if len(parts) == 3 and not ip:
        ip, parts = parts[0], parts[1:]
    if len(parts) > 2 or not parts[-1]:
        raise ValueError(f"invalid port format: {value}")
    if ip and not allow_ip:
        raise ValueError("hostip is not supported")
    t_start, t_end = parse_port_range(parts[-1])
    published = parts[0] if len(parts) == 2 else ""
    if not published:
        return [port_config(p, 0, proto) for p in range(t_start, t_end + 1)], ip
    try:
        p_start, p_end = parse_port_range(published)
    except ValueError:
        raise ValueError(f"invalid hostport binding ({published}) for port "
                         f"({parts[-1]})") from None
    n_target, n_pub = t_end - t_start + 1, p_end - p_start + 1
    if n_target == 1 and n_pub > 1:
        return [port_config(t_start, p, proto) for p in range(p_start, p_end + 1)], ip
    if n_target != n_pub:
        raise ValueError(f"invalid ranges specified for container and host Ports: "
                         f"{parts[-1]} and {published}")
    return [port_config(t_start + i, p_start + i, proto) for i in range(n_target)], ip


def parse_publish(value: str) -> list[dict[str, Any]]:
    """Parse a ``-p/--publish`` value of `service create/update` (either syntax)."""
    if "=" in value:
        return [parse_long(value)]
    return parse_short(value)[0]


def port_key(cfg: dict[str, Any]) -> tuple[int, str]:
    """Return what identifies a published port when merging or removing: (target, protocol)."""
    return int(cfg.get("TargetPort") or 0), str(cfg.get("Protocol") or "tcp")


def format_ports(ports: list[dict[str, Any]]) -> str:
    """Return docker's PORTS column: ``*:8080->80/tcp, *:53->53/udp``."""
    return ", ".join(f"*:{p.get('PublishedPort', 0)}->{p.get('TargetPort', 0)}/"
                     f"{p.get('Protocol') or 'tcp'}" for p in ports)
