"""Network commands: create, ls, inspect, rm, prune, connect, disconnect.

Requests and output are docker's (cli/command/network of docker/cli v25):

    create      POST /networks/create {Name, CheckDuplicate, Driver, Scope, EnableIPv6,
                IPAM {Driver, Options, Config [{Subnet, IPRange, Gateway}]}, Internal,
                Attachable, Ingress, ConfigOnly, ConfigFrom, Options, Labels}; prints the id
    ls          GET /networks?filters=...; NETWORK ID, NAME, DRIVER, SCOPE sorted by name
    inspect     GET /networks/{id}[?verbose=true]; a JSON array (or -f template lines)
    rm          DELETE /networks/{id}; prints each name removed
    prune       POST /networks/prune?filters=...; "Deleted Networks:"
    connect     POST /networks/{id}/connect {Container, EndpointConfig}
    disconnect  POST /networks/{id}/disconnect {Container, Force}
"""

from __future__ import annotations

from .. import netopts as n
from ..errors import APIError, CLIError, StatusError
from ..flags import Command, Flag
from ..opts import parse_filter
from . import confirm, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..context import Context


def _csv_list(conv: Any = None) -> Any:
    """Return a converter for a pflag StringSlice flag: ``--subnet a,b`` is two values."""
    from ..opts import split_csv

    def split(value: str) -> list[str]:
        items = split_csv(value) if value else []
        return [conv(i) for i in items] if conv else items

    return split


def _map_entry(value: str) -> tuple[str, str]:
    key, _, val = value.partition("=")
    return key, val


CREATE = Command("{prog} [OPTIONS] NETWORK", "Create a network", [
    Flag("attachable", "", "bool", "Enable manual container attachment"),
    Flag("aux-address", "", "list", "Auxiliary IPv4 or IPv6 addresses used by Network driver",
         conv=_map_entry, metavar="map"),
    Flag("config-from", "", "string", "The network from which to copy the configuration"),
    Flag("config-only", "", "bool", "Create a configuration only network"),
    Flag("driver", "d", "string", "Driver to manage the Network", default="bridge"),
    Flag("gateway", "", "list", "IPv4 or IPv6 Gateway for the master subnet",
         conv=_csv_list(n.parse_ip), metavar="strings"),
    Flag("ingress", "", "bool", "Create swarm routing-mesh network"),
    Flag("internal", "", "bool", "Restrict external access to the network"),
    Flag("ip-range", "", "list", "Allocate container ip from a sub-range",
         conv=_csv_list(n.parse_cidr), metavar="strings"),
    Flag("ipam-driver", "", "string", "IP Address Management Driver", default="default"),
    Flag("ipam-opt", "", "list", "Set IPAM driver specific options", conv=_map_entry,
         metavar="map"),
    Flag("ipv6", "", "bool", "Enable IPv6 networking"),
    Flag("label", "", "list", "Set metadata on a network", conv=n.validate_label),
    Flag("opt", "o", "list", "Set driver specific options", conv=_map_entry, metavar="map"),
    Flag("scope", "", "string", "Control the network's scope"),
    Flag("subnet", "", "list", "Subnet in CIDR format that represents a network segment",
         conv=_csv_list(n.parse_cidr), metavar="strings"),
], min_args=1, max_args=1)


def create_body(name: str, opts: Any) -> dict[str, Any]:
    """Return the POST /networks/create body for the parsed flags (ValueError if invalid)."""
    subnets = [s for group in opts.subnet for s in group]
    ranges = [r for group in opts.ip_range for r in group]
    gateways = [g for group in opts.gateway for g in group]
    config = n.consolidate_ipam(subnets, ranges, gateways, dict(opts.aux_address))
    labels = {}
    for kv in opts.label:
        key, _, val = kv.partition("=")
        labels[key] = val
    return {
        "Name": name, "CheckDuplicate": True, "Driver": opts.driver, "Scope": opts.scope,
        "EnableIPv6": opts.ipv6,
        "IPAM": {"Driver": opts.ipam_driver, "Options": dict(opts.ipam_opt), "Config": config},
        "Internal": opts.internal, "Attachable": opts.attachable, "Ingress": opts.ingress,
        "ConfigOnly": opts.config_only,
        "ConfigFrom": {"Network": opts.config_from} if opts.config_from else None,
        "Options": dict(opts.opt), "Labels": labels,
    }


def create(ctx: Context, argv: list[str]) -> int:
    """Create a network and print its id."""
    parsed = parse(CREATE, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    try:
        body = create_body(args[0], opts)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    resp = ctx.client.post("/networks/create", None, body) or {}
    ctx.out(f"{resp.get('Id', '')}\n")
    return 0


LS = Command("{prog} [OPTIONS]", "List networks", [
    Flag("filter", "f", "list", 'Provide filter values (e.g. "driver=bridge")',
         conv=parse_filter, metavar="filter"),
    Flag("format", "", "string", "Format output using a custom template"),
    Flag("no-trunc", "", "bool", "Do not truncate the output"),
    Flag("quiet", "q", "bool", "Only display network IDs"),
], max_args=0)

LS_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
              "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
              "CreatedAt": "CREATED AT"}


def ls(ctx: Context, argv: list[str]) -> int:
    """List networks: GET /networks?filters=..., sorted by name."""
    from ..formatting import natural_key, short_id, table
    from .containers import filters_json

    parsed = parse(LS, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    items = ctx.client.get("/networks", {"filters": filters_json(opts.filter)}) or []
    items.sort(key=lambda i: natural_key(str(i.get("Name", ""))))
    trunc = not opts.no_trunc
    rows = [{
        "ID": short_id(str(i.get("Id", "")), trunc), "Name": str(i.get("Name", "")),
        "Driver": str(i.get("Driver", "")), "Scope": str(i.get("Scope", "")),
        "IPv6": "true" if i.get("EnableIPv6") else "false",
        "Internal": "true" if i.get("Internal") else "false",
        "Labels": ",".join(f"{k}={v}" for k, v in (i.get("Labels") or {}).items()),
        "CreatedAt": str(i.get("Created", "")),
    } for i in items]
    if opts.format:
        from ..template import render_table

        ctx.out(render_table(opts.format, rows, LS_HEADERS))
    elif opts.quiet:
        ctx.out("".join(r["ID"] + "\n" for r in rows))
    else:
        cols = ["ID", "Name", "Driver", "Scope"]
        ctx.out(table([LS_HEADERS[c] for c in cols], [[r[c] for c in cols] for r in rows]))
    return 0


INSPECT = Command("{prog} [OPTIONS] NETWORK [NETWORK...]",
                  "Display detailed information on one or more networks", [
    Flag("format", "f", "string", "Format output using a custom template"),
    Flag("verbose", "v", "bool", "Verbose output for diagnostics"),
], min_args=1)


def inspect(ctx: Context, argv: list[str]) -> int:
    """Print networks as a JSON array: GET /networks/{id} for each."""
    parsed = parse(INSPECT, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    return inspect_each(ctx, names, "/networks/{}",
                        {"verbose": "true" if opts.verbose else None}, opts.format)


def inspect_each(ctx: Context, names: list[str], path: str, params: dict[str, Any] | None,
                 fmt: str) -> int:
    """GET path for each name, print what was found, then the daemon's errors (exit 1)."""
    from .containers import print_inspect

    docs, errors = [], []
    for name in names:
        try:
            docs.append(ctx.client.get(path.format(name), params))
        except CLIError as exc:
            errors.append(str(exc))
    print_inspect(ctx, docs, fmt)
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


RM = Command("{prog} NETWORK [NETWORK...]", "Remove one or more networks", [
    Flag("force", "f", "bool", "Do not error if the network does not exist"),
], min_args=1)


def rm(ctx: Context, argv: list[str]) -> int:
    """Remove networks: DELETE /networks/{id}; print each name removed."""
    parsed = parse(RM, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    status = 0
    for name in names:
        try:
            ctx.client.request("DELETE", f"/networks/{name}").read()
        except APIError as exc:
            if opts.force and exc.status == 404:
                continue
            ctx.err(f"{exc}\n")
            status = 1
            continue
        ctx.out(name + "\n")
    if status:
        raise StatusError(status)
    return 0


PRUNE = Command("{prog} [OPTIONS]", "Remove all unused networks", [
    Flag("filter", "", "list", 'Provide filter values (e.g. "until=<timestamp>")',
         conv=parse_filter, metavar="filter"),
    Flag("force", "f", "bool", "Do not prompt for confirmation"),
], max_args=0)

_PRUNE_WARNING = ("WARNING! This will remove all custom networks not used by at least one "
                  "container.\nAre you sure you want to continue?")


def prune(ctx: Context, argv: list[str]) -> int:
    """Remove unused networks: POST /networks/prune; list what went."""
    from .containers import filters_json

    parsed = parse(PRUNE, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    if not opts.force and not confirm(ctx, _PRUNE_WARNING):
        return 0
    report = ctx.client.post("/networks/prune", {"filters": filters_json(opts.filter)}) or {}
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        ctx.out("Deleted Networks:\n" + "".join(f"{d}\n" for d in deleted) + "\n")
    return 0


CONNECT = Command("{prog} [OPTIONS] NETWORK CONTAINER", "Connect a container to a network", [
    Flag("alias", "", "list", "Add network-scoped alias for the container",
         conv=_csv_list(), metavar="strings"),
    Flag("driver-opt", "", "list", "driver options for the network", conv=_csv_list(),
         metavar="strings"),
    Flag("ip", "", "string", 'IPv4 address (e.g., "172.30.100.104")', conv=n.parse_ipv4),
    Flag("ip6", "", "string", 'IPv6 address (e.g., "2001:db8::33")', conv=n.parse_ip),
    Flag("link-local-ip", "", "list", "Add a link-local address for the container",
         conv=_csv_list(n.parse_ip), metavar="strings"),
], min_args=2, max_args=2)


def connect(ctx: Context, argv: list[str]) -> int:
    """Connect a container: POST /networks/{id}/connect {Container, EndpointConfig}."""
    parsed = parse(CONNECT, ctx, argv)
    if parsed is None:
        return 0
    opts, (network, container) = parsed
    try:
        driver_opts = dict(n.driver_opt(o) for group in opts.driver_opt for o in group)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    ipam = n.ipam_config(opts.ip, opts.ip6, [a for g in opts.link_local_ip for a in g])
    endpoint = n.endpoint_settings(ipam, [a for group in opts.alias for a in group],
                                   driver_opts=driver_opts)
    ctx.client.request("POST", f"/networks/{network}/connect", None,
                       {"Container": container, "EndpointConfig": endpoint}).read()
    return 0


DISCONNECT = Command("{prog} [OPTIONS] NETWORK CONTAINER",
                     "Disconnect a container from a network", [
    Flag("force", "f", "bool", "Force the container to disconnect from a network"),
], min_args=2, max_args=2)


def disconnect(ctx: Context, argv: list[str]) -> int:
    """Disconnect a container: POST /networks/{id}/disconnect {Container, Force}."""
    parsed = parse(DISCONNECT, ctx, argv)
    if parsed is None:
        return 0
    opts, (network, container) = parsed
    ctx.client.request("POST", f"/networks/{network}/disconnect", None,
                       {"Container": container, "Force": opts.force}).read()
    return 0
