"""Container commands: start, stop, restart, kill, rm, ps, logs, inspect, wait, port.

Each talks to the Docker Engine API as the docker CLI does; commands taking
several containers act on each in turn, print the names that succeeded, and
report the failures on stderr with exit code 1.
"""

from __future__ import annotations

import json

from ..errors import APIError, CLIError, StatusError
from ..flags import Command, Flag
from . import parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..context import Context


def _each(ctx: Context, names: list[str], op: Callable[[str], object]) -> int:
    """Run op on each name, print the names that worked, then the errors (exit 1)."""
    errors = []
    for name in names:
        try:
            op(name)
        except CLIError as exc:
            errors.append(str(exc))
            continue
        ctx.out(name + "\n")
    if errors:
        raise CLIError("\n".join(errors))
    return 0


# -- start / stop / restart / kill / rm / wait ---------------------------------

START = Command("{prog} [OPTIONS] CONTAINER [CONTAINER...]",
                "Start one or more stopped containers", [
    Flag("attach", "a", "bool", "Attach STDOUT/STDERR and forward signals"),
    Flag("interactive", "i", "bool", "Attach container's STDIN"),
    Flag("detach-keys", "", "string", "Override the key sequence for detaching a container"),
], min_args=1)


def start(ctx: Context, argv: list[str]) -> int:
    """Start containers; with -a/-i attach to one and exit with its code."""
    parsed = parse(START, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    client = ctx.client
    if not (opts.attach or opts.interactive):
        failed = []
        for name in names:
            try:
                client.request("POST", f"/containers/{name}/start").read()
            except CLIError as exc:
                ctx.err(f"{exc}\n")
                failed.append(name)
                continue
            ctx.out(name + "\n")
        if failed:
            raise CLIError(f"Error: failed to start containers: {', '.join(failed)}")
        return 0
    if len(names) > 1:
        raise CLIError("you cannot start and attach multiple containers at once")
    from .run import run_attached

    info = client.get(f"/containers/{names[0]}/json")
    config, host = info.get("Config") or {}, info.get("HostConfig") or {}
    tty = bool(config.get("Tty"))
    escape = None
    if opts.detach_keys:
        from ..streams import parse_detach_keys

        try:
            escape = parse_detach_keys(opts.detach_keys)
        except ValueError as exc:
            raise CLIError(str(exc)) from None

    def start_failed(exc: CLIError) -> int:
        ctx.err(f"{exc}\n")
        return 1

    return run_attached(ctx, info["Id"], tty=tty,
                        stdin=bool(opts.interactive and config.get("OpenStdin")),
                        stdout=True, stderr=True, auto_remove=bool(host.get("AutoRemove")),
                        sig_proxy=not tty, on_start_error=start_failed, escape=escape)


_STOP_FLAGS = [
    Flag("signal", "s", "string", "Signal to send to the container"),
    Flag("timeout", "t", "int", "Seconds to wait before killing the container",
         aliases=("time",)),
]
STOP = Command("{prog} [OPTIONS] CONTAINER [CONTAINER...]",
               "Stop one or more running containers", _STOP_FLAGS, min_args=1)
RESTART = Command("{prog} [OPTIONS] CONTAINER [CONTAINER...]",
                  "Restart one or more containers", _STOP_FLAGS, min_args=1)


def _stop_like(spec: Command, action: str, ctx: Context, argv: list[str]) -> int:
    parsed = parse(spec, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    params = {"t": opts.timeout if "timeout" in opts.changed else None,
              "signal": opts.signal or None}
    client = ctx.client
    return _each(ctx, names, lambda n: client.request(
        "POST", f"/containers/{n}/{action}", params).read())


def stop(ctx: Context, argv: list[str]) -> int:
    """Stop containers: POST /containers/{id}/stop?t=N."""
    return _stop_like(STOP, "stop", ctx, argv)


def restart(ctx: Context, argv: list[str]) -> int:
    """Restart containers: POST /containers/{id}/restart?t=N."""
    return _stop_like(RESTART, "restart", ctx, argv)


KILL = Command("{prog} [OPTIONS] CONTAINER [CONTAINER...]",
               "Kill one or more running containers", [
    Flag("signal", "s", "string", "Signal to send to the container"),
], min_args=1)


def kill(ctx: Context, argv: list[str]) -> int:
    """Signal containers: POST /containers/{id}/kill?signal=SIG."""
    parsed = parse(KILL, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    client = ctx.client
    return _each(ctx, names, lambda n: client.request(
        "POST", f"/containers/{n}/kill", {"signal": opts.signal or None}).read())


RM = Command("{prog} [OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers", [
    Flag("force", "f", "bool", "Force the removal of a running container (uses SIGKILL)"),
    Flag("link", "l", "bool", "Remove the specified link"),
    Flag("volumes", "v", "bool", "Remove anonymous volumes associated with the container"),
], min_args=1)


def rm(ctx: Context, argv: list[str]) -> int:
    """Remove containers: DELETE /containers/{id}?force=1&v=1."""
    parsed = parse(RM, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    params = {"v": opts.volumes or None, "link": opts.link or None, "force": opts.force or None}
    client = ctx.client
    return _each(ctx, names, lambda n: client.request(
        "DELETE", f"/containers/{n}", params).read())


WAIT = Command("{prog} CONTAINER [CONTAINER...]",
               "Block until one or more containers stop, then print their exit codes",
               min_args=1)


def wait(ctx: Context, argv: list[str]) -> int:
    """Print each container's exit code once it stops: POST /containers/{id}/wait."""
    parsed = parse(WAIT, ctx, argv)
    if parsed is None:
        return 0
    client = ctx.client
    errors = []
    for name in parsed[1]:
        try:
            doc = client.post(f"/containers/{name}/wait") or {}
        except CLIError as exc:
            errors.append(str(exc))
            continue
        err = doc.get("Error")
        if isinstance(err, dict) and err.get("Message"):
            errors.append(f"Error waiting for container: {err['Message']}")
            continue
        ctx.out(f"{doc.get('StatusCode', 0)}\n")
    if errors:
        raise CLIError("\n".join(errors))
    return 0


# -- ps -------------------------------------------------------------------------

PS = Command("{prog} [OPTIONS]", "List containers", [
    Flag("all", "a", "bool", "Show all containers (default shows just running)"),
    Flag("filter", "f", "list", "Filter output based on conditions provided", metavar="filter"),
    Flag("format", "", "string", "Format output using a custom template"),
    Flag("last", "n", "int", "Show n last created containers (includes all states)", default=-1),
    Flag("latest", "l", "bool", "Show the latest created container (includes all states)"),
    Flag("no-trunc", "", "bool", "Don't truncate output"),
    Flag("quiet", "q", "bool", "Only display container IDs"),
    Flag("size", "s", "bool", "Display total file sizes"),
], max_args=0)

PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
              "RunningFor": "CREATED", "CreatedAt": "CREATED AT", "Status": "STATUS",
              "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE", "State": "STATE",
              "Labels": "LABELS", "Networks": "NETWORKS", "Mounts": "MOUNTS"}


def filters_json(values: list[str]) -> str | None:
    """Encode ``-f key=value`` filters as docker does: {"key": {"value": true}}."""
    if not values:
        return None
    out: dict[str, dict[str, bool]] = {}
    for v in values:
        key, eq, val = v.partition("=")
        if not eq:
            raise CLIError(f"bad format of filter (expected name=value)\nSee '{v}'")
        out.setdefault(key.strip().lower(), {})[val.strip()] = True
    return json.dumps(out, separators=(",", ":"))


def ps(ctx: Context, argv: list[str]) -> int:
    """List containers: GET /containers/json?all=1&limit=N&size=1&filters=...."""
    from ..formatting import (
        container_names,
        display_ports,
        ellipsis,
        go_quote,
        human_size,
        short_id,
        since,
        state_status,
        table,
    )

    parsed = parse(PS, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    limit = 1 if opts.latest else opts.last
    params = {"all": True if opts.all or limit > 0 else None,
              "limit": limit if limit > 0 else None,
              "size": True if opts.size else None,
              "filters": filters_json(opts.filter)}
    items = ctx.client.get("/containers/json", params) or []
    trunc = not opts.no_trunc
    if opts.quiet:
        ctx.out("".join(short_id(c["Id"], trunc) + "\n" for c in items))
        return 0
    rows = []
    for c in items:
        image = str(c.get("Image", ""))
        if trunc and image.startswith("sha256:"):
            image = short_id(image)
        command = str(c.get("Command", ""))
        status = c.get("Status") or (state_status(c["State"]) if isinstance(
            c.get("State"), dict) else str(c.get("State", "")).capitalize())
        size = ""
        if opts.size:
            size = human_size(c.get("SizeRw") or 0, 3)
            if c.get("SizeRootFs"):
                size += f" (virtual {human_size(c['SizeRootFs'], 3)})"
        rows.append({
            "ID": short_id(c["Id"], trunc), "Image": image,
            "Command": go_quote(ellipsis(command, 20) if trunc else command),
            "RunningFor": since(c.get("Created", 0)), "Status": status,
            "Ports": display_ports(c.get("Ports") or []),
            "Names": container_names(c.get("Names") or [], trunc), "Size": size,
            "State": c.get("State") if isinstance(c.get("State"), str) else "",
            "CreatedAt": str(c.get("Created", "")),
            "Labels": ",".join(f"{k}={v}" for k, v in (c.get("Labels") or {}).items()),
        })
    if opts.format:
        from ..template import render_table

        ctx.out(render_table(opts.format, rows, PS_HEADERS))
        return 0
    cols = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]
    if opts.size:
        cols.append("Size")
    ctx.out(table([PS_HEADERS[c] for c in cols], [[r[c] for c in cols] for r in rows]))
    return 0


# -- logs -----------------------------------------------------------------------

LOGS = Command("{prog} [OPTIONS] CONTAINER", "Fetch the logs of a container", [
    Flag("details", "", "bool", "Show extra details provided to logs"),
    Flag("follow", "f", "bool", "Follow log output"),
    Flag("since", "", "string",
         'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")'),
    Flag("tail", "n", "string", 'Number of lines to show from the end of the logs',
         default="all"),
    Flag("timestamps", "t", "bool", "Show timestamps"),
    Flag("until", "", "string",
         'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")'),
], min_args=1, max_args=1)


def go_timestamp(value: str, now: float | None = None) -> str:
    """Return the API form of a --since/--until value: Unix seconds, maybe fractional.

    Accepts Unix seconds, RFC 3339 times, and Go durations (``10m``, ``1h30m``)
    meaning that long ago.
    """
    import time

    from ..formatting import parse_rfc3339

    if not value:
        return value
    if value.replace(".", "", 1).isdigit():
        return value
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    total, num, i = 0.0, "", 0
    while i < len(value):
        c = value[i]
        if c.isdigit() or c == ".":
            num += c
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "µs", "ms", "s", "m", "h")
                     if value.startswith(u, i)), None)
        if unit is None or not num:
            break
        total += float(num) * units[unit]
        num, i = "", i + len(unit)
    else:
        if not num:
            t = (time.time() if now is None else now) - total
            return f"{t:.9f}".rstrip("0").rstrip(".")
    ts = parse_rfc3339(value if "T" in value else value + "T00:00:00Z")
    if ts is None:
        raise CLIError(f'invalid value for "since": {value}')
    return f"{ts:.9f}".rstrip("0").rstrip(".")


def logs(ctx: Context, argv: list[str]) -> int:
    """Print a container's logs: GET /containers/{id}/json then /containers/{id}/logs."""
    from ..streams import Output, copy_output

    parsed = parse(LOGS, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    client = ctx.client
    info = client.get(f"/containers/{args[0]}/json")
    tty = bool((info.get("Config") or {}).get("Tty"))
    params = {"stdout": True, "stderr": True,
              "since": go_timestamp(opts.since) or None,
              "until": go_timestamp(opts.until) or None,
              "timestamps": True if opts.timestamps else None,
              "follow": True if opts.follow else None,
              "tail": opts.tail or None,
              "details": True if opts.details else None}
    resp = client.request("GET", f"/containers/{args[0]}/logs", params)
    copy_output(resp.iter_raw(), tty, Output(ctx.out_bytes(), ctx.err_bytes()))
    return 0


# -- inspect --------------------------------------------------------------------

_INSPECT_FLAGS = [
    Flag("format", "f", "string", "Format output using a custom template"),
    Flag("size", "s", "bool", "Display total file sizes if the type is container"),
]
INSPECT = Command("{prog} [OPTIONS] NAME|ID [NAME|ID...]",
                  "Return low-level information on shoal objects",
                  [*_INSPECT_FLAGS, Flag("type", "", "string", "Return JSON for specified type")],
                  min_args=1)
INSPECT_CONTAINERS = Command("{prog} [OPTIONS] CONTAINER [CONTAINER...]",
                             "Display detailed information on one or more containers",
                             _INSPECT_FLAGS, min_args=1)


def print_inspect(ctx: Context, docs: list[Any], fmt: str) -> None:
    """Print inspect results: an indented JSON array, or one template line each."""
    if fmt:
        from ..template import render

        fmt = fmt.replace("\\n", "\n").replace("\\t", "\t")
        ctx.out("".join(render(fmt, d) + "\n" for d in docs))
    else:
        ctx.out(json.dumps(docs, indent=4, ensure_ascii=False) + "\n")


def inspect_objects(ctx: Context, names: list[str], kinds: list[str], fmt: str,
                    size: bool = False) -> int:
    """Fetch each name as the first kind that knows it; print them; report misses."""
    client = ctx.client
    paths = {"container": ("/containers/{}/json", {"size": True if size else None}),
             "image": ("/images/{}/json", None), "network": ("/networks/{}", None),
             "volume": ("/volumes/{}", None)}
    docs, errors = [], []
    for name in names:
        for kind in kinds:
            path, params = paths[kind]
            try:
                docs.append(client.get(path.format(name), params))
                break
            except APIError as exc:
                if exc.status != 404:
                    errors.append(str(exc))
                    break
        else:
            what = kinds[0] if len(kinds) == 1 else "object"
            errors.append(f"Error: No such {what}: {name}")
    print_inspect(ctx, docs, fmt)
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


def inspect(ctx: Context, argv: list[str]) -> int:
    """Inspect containers or images by name (``--type`` narrows the search)."""
    parsed = parse(INSPECT, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    kinds = ["container", "image", "network", "volume"]
    if opts.type and opts.type not in kinds:
        raise CLIError(f'"{opts.type}" is not a valid value for --type')
    kinds = [opts.type] if opts.type else kinds
    return inspect_objects(ctx, names, kinds, opts.format, opts.size)


def inspect_containers(ctx: Context, argv: list[str]) -> int:
    """`shoal container inspect`: GET /containers/{id}/json for each."""
    parsed = parse(INSPECT_CONTAINERS, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    return inspect_objects(ctx, names, ["container"], opts.format, opts.size)


# -- port -----------------------------------------------------------------------

PORT = Command("{prog} CONTAINER [PRIVATE_PORT[/PROTO]]",
               "List port mappings or a specific mapping for the container",
               min_args=1, max_args=2)


def port(ctx: Context, argv: list[str]) -> int:
    """Print published ports from GET /containers/{id}/json (NetworkSettings.Ports)."""
    from ..formatting import join_host_port, natural_key
    from ..ports import _uint16

    parsed = parse(PORT, ctx, argv)
    if parsed is None:
        return 0
    _, args = parsed
    info = ctx.client.get(f"/containers/{args[0]}/json")
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    out = []
    if len(args) > 1:
        number, _, proto = args[1].partition("/")
        try:
            _uint16(number)
        except ValueError as exc:
            raise CLIError(f"Error: invalid port ({number}): {exc}") from None
        frontends = ports.get(f"{number}/{proto or 'tcp'}")
        if not frontends:
            raise CLIError(f"Error: No public port '{args[1]}' published for {args[0]}")
        out = [join_host_port(f.get("HostIp", ""), f.get("HostPort", "")) for f in frontends]
    else:
        out = [f"{key} -> {join_host_port(f.get('HostIp', ''), f.get('HostPort', ''))}"
               for key, frontends in ports.items() for f in frontends or ()]
    out.sort(key=natural_key)
    ctx.out("".join(line + "\n" for line in out))
    return 0
