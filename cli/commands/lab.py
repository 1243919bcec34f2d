"""`shoal lab`: up, ls, down, env, and the failure controls kill, cut, restore, start.

Thin wrappers around shoal.cli.lab (docs/lab.md): parse, call the Python
API, print. Every LabError becomes a CLIError (exit 1).
"""

from __future__ import annotations

from ..errors import CLIError
from ..flags import Command, Flag
from . import parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..context import Context
    from ..lab import Lab, LabHost

DEFAULT_NAME = "lab"

UP = Command("{prog} [OPTIONS] [NAME]", "Create a lab cluster (default name \"lab\")", [
    Flag("nodes", "n", "int", "Number of hosts", default=3),
    Flag("managers", "m", "int", "Number of managers among them", default=1),
    Flag("registry", "", "bool", "Run a registry (plain HTTP) on a host of its own"),
    Flag("timeout", "", "int", "Seconds to wait for daemons and Ready nodes", default=120),
], max_args=1)
LS = Command("{prog} [OPTIONS]", "List lab clusters", [
    Flag("quiet", "q", "bool", "Only display names"),
], max_args=0)
DOWN = Command("{prog} [OPTIONS] [NAME...]", "Remove lab clusters", [
    Flag("all", "a", "bool", "Remove every lab"),
    Flag("keep", "", "bool", "Keep the data roots and logs (only the state file goes)"),
])
ENV = Command("{prog} HOST", "Print the export line that points shoal at HOST",
              min_args=1, max_args=1)
HOSTCMD = Command("{prog} HOST [HOST...]", "", min_args=1)


def _lab_error() -> type[Exception]:
    from ..lab import LabError

    return LabError


def _wrap(fn: Callable[[], int]) -> int:
    try:
        return fn()
    except _lab_error() as exc:
        raise CLIError(f"shoal lab: {exc}") from exc


def up(ctx: Context, argv: list[str]) -> int:
    """Create a lab, start its daemons, form its cluster, print its hosts."""
    parsed = parse(UP, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    name = args[0] if args else DEFAULT_NAME

    def run() -> int:
        from ..lab import Lab

        lab = Lab.up(name, nodes=opts.nodes, managers=opts.managers, registry=opts.registry,
                     timeout=opts.timeout, say=lambda m: ctx.err(m + "\n"))
        _print_hosts(ctx, lab)
        return 0

    return _wrap(run)


def _print_hosts(ctx: Context, lab: Lab) -> None:
    rows = [("NAME", "ROLE", "ADDRESS", "SOCKET")]
    rows += [(h.name, h.role, h.addr, h.socket) for h in lab.hosts]
    if lab.registry is not None:
        rows.append((lab.registry.name, "registry", lab.registry_addr, "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        ctx.out("   ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True))
                + f"   {r[3]}\n")
    first = lab.hosts[0].name
    ctx.out(f"\nReach a host: shoal --host {first} node ls   (or: export SHOAL_HOST={first})\n"
            f"Remove the lab: shoal lab down {lab.name}\n")


def ls(ctx: Context, argv: list[str]) -> int:
    """List labs: NAME, HOSTS, MANAGERS, STATE (from the daemons' pids)."""
    parsed = parse(LS, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    from ..lab import Lab

    labs = Lab.all()
    if opts.quiet:
        ctx.out("".join(f"{lab.name}\n" for lab in labs))
        return 0
    rows = [("NAME", "HOSTS", "MANAGERS", "STATE", "UNDERLAY", "REGISTRY")]
    rows += [(lab.name, str(len(lab.state.hosts)), str(lab.state.managers), lab.status(),
              lab.state.underlay, lab.registry_addr or "-") for lab in labs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        ctx.out("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    return 0


def down(ctx: Context, argv: list[str]) -> int:
    """Remove labs by name (or all); a missing lab is not an error, as with kind."""
    parsed = parse(DOWN, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    if opts.all and args:
        raise CLIError("shoal lab down: give lab names or --all, not both")

    def run() -> int:
        from ..lab import Lab
        from ..lab.model import check_name

        names = [lab.name for lab in Lab.all()] if opts.all else (args or [DEFAULT_NAME])
        failed = False
        for name in names:
            check_name(name)
            problems = Lab.down_named(name, keep=opts.keep)
            for p in problems:
                ctx.err(f"shoal lab down {name}: {p}\n")
            failed = failed or bool(problems)
            if not problems:
                ctx.out(f"{name}\n")
        return 1 if failed else 0

    return _wrap(run)


def env(ctx: Context, argv: list[str]) -> int:
    """Print `export SHOAL_HOST=...` for a lab host (eval "$(shoal lab env lab-2)")."""
    parsed = parse(ENV, ctx, argv)
    if parsed is None:
        return 0
    _, args = parsed

    def run() -> int:
        host = _host(args[0])
        ctx.out(f"export SHOAL_HOST={host.host}\n")
        return 0

    return _wrap(run)


def _host(name: str) -> LabHost:
    from ..lab import Lab, LabNotFound

    lab_name, sep, _ = name.rpartition("-")
    if not sep:
        raise LabNotFound(f"{name!r} is not a lab host name (LAB-INDEX, e.g. lab-2)")
    return Lab.open(lab_name).host(name)


def _host_command(method: str) -> Callable[[Context, list[str]], int]:
    def command(ctx: Context, argv: list[str]) -> int:
        parsed = parse(HOSTCMD, ctx, argv)
        if parsed is None:
            return 0
        _, args = parsed

        def run() -> int:
            for name in args:
                getattr(_host(name), method)()
                ctx.out(f"{name}\n")
            return 0

        return _wrap(run)

    command.__doc__ = f"Run LabHost.{method}() on each host named."
    return command


kill = _host_command("kill")
cut = _host_command("cut")
restore = _host_command("restore")
start = _host_command("start")
stop = _host_command("stop")
