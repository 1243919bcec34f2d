"""Parse network option values as the docker CLI does: addresses, DNS, hosts, --network.

Docker's rules (cli/command/container/opts.go, opts/network.go, opts/opts.go,
opts/hosts.go of docker/cli v25) with the same error wording; a few values docker
leaves to the daemon (``--ip``, ``--subnet``) are checked here as well, so a
typo fails at once with the flag and the value named. Imported only when a
network flag is used: `shoal run` without one never loads it.
"""

from __future__ import annotations

import socket

from .opts import split_csv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

_NOT_USER_DEFINED = ("default", "bridge", "host", "none")


# -- addresses ------------------------------------------------------------------

def ip_bytes(value: str) -> bytes | None:
    """Return the packed address of an IPv4 or IPv6 literal (as Go's net.ParseIP), or None."""
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in value else socket.AF_INET, value)
    except (OSError, ValueError):
        return None


def canonical_ip(packed: bytes) -> str:
    """Return Go's ip.String(): dotted quad for IPv4 (and IPv4-mapped IPv6), RFC 5952 else."""
    if len(packed) == 16 and packed[:12] == b"\0" * 10 + b"\xff\xff":
        packed = packed[12:]
    return socket.inet_ntop(socket.AF_INET if len(packed) == 4 else socket.AF_INET6, packed)


def parse_ip(value: str) -> str:
    """Check an IPv4 or IPv6 address (``--gateway``, ``--ip6``); return it as given."""
    if ip_bytes(value) is None:
        raise ValueError(f"invalid string being converted to IP address: {value}")
    return value


def parse_ipv4(value: str) -> str:
    """Check an IPv4 address (``--ip``); return it as given."""
    if ":" in value or ip_bytes(value) is None:
        raise ValueError(f"invalid IPv4 address: {value}")
    return value


def parse_cidr(value: str) -> str:
    """Check ``ADDRESS/PREFIX`` (``--subnet``, ``--ip-range``); return it as given."""
    if _cidr(value) is None:
        raise ValueError(f"invalid CIDR address: {value}")
    return value


def _cidr(value: str) -> tuple[int, int, int] | None:
    """Return (bits, network as int, prefix length) of a CIDR, or None."""
    addr, slash, plen = value.partition("/")
    packed = ip_bytes(addr)
    if not slash or packed is None or not (plen.isdigit() and plen.isascii()):
        return None
    bits = len(packed) * 8
    n = int(plen)
    if n > bits or len(plen) > 3:
        return None
    mask = ((1 << bits) - 1) ^ ((1 << (bits - n)) - 1)
    return bits, int.from_bytes(packed, "big") & mask, n


def subnet_contains(subnet: str, data: str) -> bool:
    """Tell whether data (an address or the address of a CIDR) lies in subnet."""
    net = _cidr(subnet)
    if net is None:
        raise ValueError(f"invalid subnet: invalid CIDR address: {subnet}")
    bits, base, n = net
    addr = data.partition("/")[0] if "/" in data else data
    packed = ip_bytes(addr)
    if packed is None or len(packed) * 8 != bits:
        return False
    mask = ((1 << bits) - 1) ^ ((1 << (bits - n)) - 1)
    return int.from_bytes(packed, "big") & mask == base


def consolidate_ipam(subnets: Sequence[str], ranges: Sequence[str], gateways: Sequence[str],
                     aux: dict[str, str]) -> list[dict[str, Any]]:
    """Group --subnet/--ip-range/--gateway/--aux-address into IPAM.Config, as docker does."""
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise ValueError("every ip-range or gateway must have a corresponding subnet")
    data: dict[str, dict[str, Any]] = {}
    for s in subnets:
        for k in data:
            if subnet_contains(s, k) or subnet_contains(k, s):
                raise ValueError("multiple overlapping subnet configuration is not supported")
        data[s] = {"Subnet": s}
    for key, what, values in (("IPRange", "range", ranges), ("Gateway", "gateway", gateways)):
        for v in values:
            match = False
            for s in subnets:
                if not subnet_contains(s, v):
                    continue
                if key in data[s]:
                    many = "ranges" if key == "IPRange" else "gateways"
                    on = "on the same subnet" if key == "IPRange" else "for the same subnet"
                    raise ValueError(f"cannot configure multiple {many} ({v}, {data[s][key]}) "
                                     f"{on} ({s})")
                data[s][key] = v
                match = True
            if not match:
                raise ValueError(f"no matching subnet for {what} {v}")
    for name, addr in aux.items():
        match = False
        for s in subnets:
            if subnet_contains(s, addr):
                data[s].setdefault("AuxiliaryAddresses", {})[name] = addr
                match = True
        if not match:
            raise ValueError(f"no matching subnet for aux-address {addr}")
    return list(data.values())


# -- DNS and hosts ----------------------------------------------------------------

def validate_dns(value: str) -> str:
    """Return a ``--dns`` server address in canonical form (docker's ValidateIPAddress)."""
    packed = ip_bytes(value.strip())
    if packed is None:
        raise ValueError(f"IP address is not correctly formatted: {value}")
    return canonical_ip(packed)


def validate_dns_search(value: str) -> str:
    """Return a ``--dns-search`` domain without its trailing dot (docker's ValidateDNSSearch)."""
    val = value.strip(" ")
    if val == ".":
        return val
    err = ValueError(f"{val} is not a valid domain")
    if not any(c.isascii() and c.isalpha() for c in val):
        raise err
    name = val.rstrip(" \t\r\n\f\v")
    if name.endswith("."):
        name = name[:-1]
    for label in name.split("."):
        if not label or not all(c.isascii() and (c.isalnum() or c == "-") for c in label) \
                or label[0] == "-" or label[-1] == "-":
            raise err
    if len(name) >= 255:
        raise err
    return name


def validate_extra_host(value: str) -> str:
    """Return an ``--add-host`` value as ``host:ip`` (docker's ValidateExtraHost)."""
    host, sep, addr = value.partition("=")
    if not sep:
        host, sep, addr = value.partition(":")
    if not sep or not host or ":" in host:
        raise ValueError(f'bad format for add-host: "{value}"')
    if addr != "host-gateway":
        if len(addr) > 2 and addr[0] == "[" and addr[-1] == "]":
            addr = addr[1:-1]
        if ip_bytes(addr.strip()) is None:
            raise ValueError(f'invalid IP address in add-host: "{addr}"')
    return f"{host}:{addr}"


def validate_label(value: str) -> str:
    """Check a ``--label k=v`` value: a name, without whitespace (docker's ValidateLabel)."""
    key = value.partition("=")[0].lstrip(" \t\r\n\v\f")
    if not key:
        raise ValueError(f"invalid label '{value}': empty name")
    if any(c in key for c in " \t\r\n\v\f"):
        raise ValueError(f"label '{key}' contains whitespaces")
    return value


def driver_opt(value: str) -> tuple[str, str]:
    """Split a ``--driver-opt k=v`` value (trimmed), as docker's connect does."""
    key, eq, val = value.partition("=")
    key = key.strip()
    if not eq or not key:
        raise ValueError("invalid key/value pair format in driver options")
    return key, val.strip()


# -- --network and endpoints ---------------------------------------------------------

def _word(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "_")


def parse_network(value: str) -> dict[str, Any]:
    """Parse ``--network NAME`` or ``--network name=N,alias=A,ip=IP,driver-opt=k=v``."""
    long_syntax = any(value[i] == "=" and _word(value[i - 1]) and _word(value[i + 1])
                      for i in range(1, len(value) - 1))
    if not long_syntax:
        return {"Target": value}
    att: dict[str, Any] = {"Target": "", "Aliases": []}
    for field in split_csv(value):
        key, eq, val = field.partition("=")
        key = key.lower()
        if not eq or not key:
            raise ValueError(f"invalid field {field}")
        key, val = key.strip(), val.strip()
        if key == "name":
            att["Target"] = val
        elif key == "alias":
            att["Aliases"].append(val)
        elif key == "ip":
            att["IPv4Address"] = parse_ipv4(val)
        elif key == "ip6":
            att["IPv6Address"] = parse_ip(val)
        elif key == "mac-address":
            att["MacAddress"] = val
        elif key == "link-local-ip":
            att.setdefault("LinkLocalIPs", []).append(parse_ip(val))
        elif key == "driver-opt":
            k, v = driver_opt(val.lower())
            att.setdefault("DriverOpts", {})[k] = v
        else:
            raise ValueError(f"invalid field key {key}")
    if not att["Target"]:
        raise ValueError("network name/id is not specified")
    return att


def is_user_defined(name: str) -> bool:
    """Tell whether a network mode names a user-defined network (not bridge/host/none/...)."""
    return name not in _NOT_USER_DEFINED and not name.startswith("container:")


def endpoint_settings(ipam: dict[str, Any] | None = None, aliases: list[str] | None = None,
                      links: list[str] | None = None, mac: str = "",
                      driver_opts: dict[str, str] | None = None) -> dict[str, Any]:
    """Return an EndpointSettings document with every field, as Go marshals it."""
    return {"IPAMConfig": ipam, "Links": links, "Aliases": aliases, "MacAddress": mac,
            "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "DriverOpts": driver_opts, "DNSNames": None}


def ipam_config(ipv4: str = "", ipv6: str = "", link_local: Iterable[str] = ()
                ) -> dict[str, Any]:
    """Return EndpointIPAMConfig with its empty fields left out (they are omitempty)."""
    out: dict[str, Any] = {}
    if ipv4:
        out["IPv4Address"] = ipv4
    if ipv6:
        out["IPv6Address"] = ipv6
    if link_local:
        out["LinkLocalIPs"] = list(link_local)
    return out


def _attachment_settings(att: dict[str, Any]) -> dict[str, Any]:
    target = att["Target"]
    if not target.strip():
        raise ValueError("no name set for network")
    if not is_user_defined(target) and att.get("Aliases"):
        raise ValueError("network-scoped aliases are only supported for user-defined networks")
    ipam = None
    if att.get("IPv4Address") or att.get("IPv6Address") or att.get("LinkLocalIPs"):
        ipam = ipam_config(att.get("IPv4Address", ""), att.get("IPv6Address", ""),
                           att.get("LinkLocalIPs") or ())
    return endpoint_settings(ipam, list(att["Aliases"]) if att.get("Aliases") else None,
                             mac=att.get("MacAddress", ""),
                             driver_opts=att.get("DriverOpts") or None)


def _apply_flags(att: dict[str, Any], aliases: list[str], ipv4: str) -> None:
    if att.get("Aliases") and aliases:
        raise ValueError("conflicting options: cannot specify both --network-alias and "
                         "per-network alias")
    if att.get("IPv4Address") and ipv4:
        raise ValueError("conflicting options: cannot specify both --ip and per-network "
                         "IPv4 address")
    if aliases:
        att["Aliases"] = list(aliases)
    if ipv4:
        att["IPv4Address"] = ipv4


def endpoints_config(networks: list[dict[str, Any]], aliases: list[str], ipv4: str
                     ) -> dict[str, dict[str, Any]]:
    """Return NetworkingConfig.EndpointsConfig for --network, --network-alias and --ip.

    As docker: the first network takes --network-alias and --ip; a single
    network with nothing to configure gets no entry (the daemon makes one).
    """
    eps: dict[str, dict[str, Any]] = {}
    user = other = False
    if not networks:
        att: dict[str, Any] = {"Target": "default"}
        _apply_flags(att, aliases, ipv4)
        eps["default"] = _attachment_settings(att)
    for i, given in enumerate(networks):
        att = dict(given)
        if is_user_defined(att["Target"]):
            user = True
        else:
            other = True
        if i == 0:
            _apply_flags(att, aliases, ipv4)
        ep = _attachment_settings(att)
        if att["Target"] in eps:
            raise ValueError(f'network "{att["Target"]}" is specified multiple times')
        if i == 0 and len(networks) == 1 and ep == endpoint_settings():
            continue
        eps[att["Target"]] = ep
    if user and other:
        raise ValueError("conflicting options: cannot attach both user-defined and "
                         "non-user-defined network-modes")
    return eps
