"""Volume commands: create, ls, inspect, rm, prune.

Requests and output are docker's (cli/command/volume of docker/cli v25):

    create   POST /volumes/create {Name, Driver, DriverOpts, Labels} (empty fields left
             out, as Go's omitempty does); prints the name
    ls       GET /volumes?filters=... -> {"Volumes": [...], "Warnings": [...]};
             DRIVER, VOLUME NAME sorted by name
    inspect  GET /volumes/{name}; a JSON array (or -f template lines)
    rm       DELETE /volumes/{name}[?force=1]; prints each name removed
    prune    POST /volumes/prune?filters=... (all=true with -a);
             "Deleted Volumes:" and "Total reclaimed space: X"
"""

from __future__ import annotations

from ..errors import CLIError
from ..flags import Command, Flag
from ..netopts import validate_label
from ..opts import parse_filter
from . import confirm, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import Context


def _map_entry(value: str) -> tuple[str, str]:
    key, _, val = value.partition("=")
    return key, val


CREATE = Command("{prog} [OPTIONS] [VOLUME]", "Create a volume", [
    Flag("driver", "d", "string", "Specify volume driver name", default="local"),
    Flag("label", "", "list", "Set metadata for a volume", conv=validate_label),
    Flag("name", "", "string", "Specify volume name", hidden=True),
    Flag("opt", "o", "list", "Set driver specific options", conv=_map_entry, metavar="map"),
], max_args=1)


def create(ctx: Context, argv: list[str]) -> int:
    """Create a volume and print its name."""
    parsed = parse(CREATE, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    name = opts.name
    if args:
        if name:
            raise CLIError("conflicting options: either specify --name or provide "
                           "positional arg, not both")
        name = args[0]
    labels = {}
    for kv in opts.label:
        key, _, val = kv.partition("=")
        labels[key] = val
    body = {k: v for k, v in (("Driver", opts.driver), ("DriverOpts", dict(opts.opt)),
                              ("Labels", labels), ("Name", name)) if v}
    resp = ctx.client.post("/volumes/create", None, body) or {}
    ctx.out(f"{resp.get('Name', '')}\n")
    return 0


LS = Command("{prog} [OPTIONS]", "List volumes", [
    Flag("filter", "f", "list", 'Provide filter values (e.g. "dangling=true")',
         conv=parse_filter, metavar="filter"),
    Flag("format", "", "string", "Format output using a custom template"),
    Flag("quiet", "q", "bool", "Only display volume names"),
], max_args=0)

LS_HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE",
              "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Links": "LINKS",
              "Size": "SIZE", "CreatedAt": "CREATED AT"}


def ls(ctx: Context, argv: list[str]) -> int:
    """List volumes: GET /volumes?filters=..., sorted by name."""
    from ..formatting import human_size, natural_key, table
    from .containers import filters_json

    parsed = parse(LS, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    doc = ctx.client.get("/volumes", {"filters": filters_json(opts.filter)}) or {}
    items = list(doc.get("Volumes") or [])
    items.sort(key=lambda v: natural_key(str(v.get("Name", ""))))
    rows = []
    for v in items:
        usage = v.get("UsageData") or {}
        size, refs = usage.get("Size", -1), usage.get("RefCount", -1)
        rows.append({
            "Name": str(v.get("Name", "")), "Driver": str(v.get("Driver", "")),
            "Scope": str(v.get("Scope", "")), "Mountpoint": str(v.get("Mountpoint", "")),
            "Labels": ",".join(f"{k}={val}" for k, val in (v.get("Labels") or {}).items()),
            "Links": "N/A" if refs == -1 else str(refs),
            "Size": "N/A" if size == -1 else human_size(size, 3),
            "CreatedAt": str(v.get("CreatedAt", "")),
        })
    if opts.format:
        from ..template import render_table

        ctx.out(render_table(opts.format, rows, LS_HEADERS))
    elif opts.quiet:
        ctx.out("".join(r["Name"] + "\n" for r in rows))
    else:
        ctx.out(table(["DRIVER", "VOLUME NAME"], [[r["Driver"], r["Name"]] for r in rows]))
    return 0


INSPECT = Command("{prog} [OPTIONS] VOLUME [VOLUME...]",
                  "Display detailed information on one or more volumes", [
    Flag("format", "f", "string", "Format output using a custom template"),
], min_args=1)


def inspect(ctx: Context, argv: list[str]) -> int:
    """Print volumes as a JSON array: GET /volumes/{name} for each."""
    from .network import inspect_each

    parsed = parse(INSPECT, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    return inspect_each(ctx, names, "/volumes/{}", None, opts.format)


RM = Command("{prog} [OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes", [
    Flag("force", "f", "bool", "Force the removal of one or more volumes"),
], min_args=1)


def rm(ctx: Context, argv: list[str]) -> int:
    """Remove volumes: DELETE /volumes/{name}?force=1; print each name removed."""
    parsed = parse(RM, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    errors = []
    for name in names:
        try:
            ctx.client.request("DELETE", f"/volumes/{name}",
                               {"force": "1" if opts.force else None}).read()
        except CLIError as exc:
            errors.append(str(exc))
            continue
        ctx.out(name + "\n")
    if errors:
        raise CLIError("\n".join(errors))
    return 0


PRUNE = Command("{prog} [OPTIONS]", "Remove unused local volumes", [
    Flag("all", "a", "bool", "Remove all unused volumes, not just anonymous ones"),
    Flag("filter", "", "list", 'Provide filter values (e.g. "label=<label>")',
         conv=parse_filter, metavar="filter"),
    Flag("force", "f", "bool", "Do not prompt for confirmation"),
], max_args=0)

_ANONYMOUS_WARNING = ("WARNING! This will remove anonymous local volumes not used by at least "
                      "one container.\nAre you sure you want to continue?")
_ALL_WARNING = ("WARNING! This will remove all local volumes not used by at least one "
                "container.\nAre you sure you want to continue?")


def prune(ctx: Context, argv: list[str]) -> int:
    """Remove unused volumes: POST /volumes/prune; list them and the space reclaimed."""
    from ..formatting import human_size
    from .containers import filters_json

    parsed = parse(PRUNE, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    filters = list(opts.filter)
    warning = _ANONYMOUS_WARNING
    if opts.all:
        if any(f.partition("=")[0].strip().lower() == "all" for f in filters):
            raise CLIError("conflicting options: cannot specify both --all and --filter all=1")
        filters.append("all=true")
        warning = _ALL_WARNING
    reclaimed = 0
    if opts.force or confirm(ctx, warning):
        report = ctx.client.post("/volumes/prune", {"filters": filters_json(filters)}) or {}
        deleted = report.get("VolumesDeleted") or []
        if deleted:
            ctx.out("Deleted Volumes:\n" + "".join(f"{d}\n" for d in deleted) + "\n")
            reclaimed = int(report.get("SpaceReclaimed") or 0)
    ctx.out(f"Total reclaimed space: {human_size(reclaimed, 4)}\n")
    return 0
