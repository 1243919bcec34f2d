"""The `shoal` entry point: global options, lazy dispatch, errors to exit codes.

Startup is on the benchmark path (`shoal run --rm IMAGE true`), so this module
imports nothing beyond sys/os and the tiny registry; a command's module (and
the HTTP client) is imported only once the command is known.
"""

from __future__ import annotations

import os
import sys

from .errors import CLIError, StatusError, UsageError
from .registry import COMMANDS, COMMON, GROUPS, Group, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .context import Context

_GLOBAL_HELP = """\
Global Options:
  -D, --debug              Enable debug mode
  -H, --host string        Daemon socket to connect to (unix:///path, tcp://host:port or
                           a lab host such as lab-2; default $SHOAL_HOST or
                           unix:///run/shoal/shoal.sock)
  -l, --log-level string   Set the logging level (accepted for docker compatibility)
  -v, --version            Print version information and quit
  -h, --help               Print usage
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return its exit code (exit at once when run as `shoal`)."""
    if argv is not None:
        return run(list(argv))
    code = run(sys.argv[1:])
    # As the console script, skip interpreter teardown (a few ms per command):
    # flush what we wrote and leave.
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
    try:
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code & 0xFF if code >= 0 else 255)


def run(argv: list[str], stdin_fd: int = 0) -> int:
    """Parse global options, find the command, run it, map errors to exit codes.

    ``stdin_fd`` is what the container's stdin is read from (tests pass a pipe).
    """
    ctx: Context | None = None
    try:
        host, debug, rest = _global_options(argv)
        if rest is None:
            return 0
        entry, words, args = resolve(rest)
        if entry is None:
            if not words:
                sys.stdout.write(_top_help())
                return 0
            raise CLIError(f"shoal: '{' '.join(words)}' is not a shoal command.\n"
                           "See 'shoal --help'")
        if isinstance(entry, Group):
            if args and args[0] not in ("-h", "--help"):
                if args[0].startswith("-"):
                    raise UsageError(f"unknown flag: {args[0]}", f"shoal {words[0]}")
                raise CLIError(f"shoal: '{words[0]} {args[0]}' is not a shoal command.\n"
                               f"See 'shoal {words[0]} --help'")
            sys.stdout.write(_group_help(words[0], entry))
            return 0
        from .context import Context

        ctx = Context(host, debug, "shoal " + " ".join(words), stdin_fd)
        module = __import__(entry.module, fromlist=[entry.func])
        return int(getattr(module, entry.func)(ctx, args))
    except UsageError as exc:
        if exc.command:
            sys.stderr.write(f"{exc}\nSee '{exc.command} --help'.\n")
        else:
            sys.stderr.write(f"{exc}\n")
        return exc.exit_code
    except StatusError as exc:
        if exc.message:
            sys.stderr.write(exc.message.rstrip("\n") + "\n")
        return exc.exit_code
    except CLIError as exc:
        sys.stderr.write(f"{exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # stdout went away (`shoal logs | head`): stop quietly, like a SIGPIPE'd docker.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141
    finally:
        if ctx is not None:
            ctx.close()


def _global_options(argv: list[str]) -> tuple[str, bool, list[str] | None]:
    """Return (host, debug, the rest) — rest is None when the options were all it took."""
    host = os.environ.get("SHOAL_HOST") or "unix:///run/shoal/shoal.sock"
    debug = False
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-") or a == "-":
            break
        name, eq, value = a.partition("=")
        if name in ("-H", "--host", "-l", "--log-level"):
            if not eq:
                if i + 1 >= len(argv):
                    raise UsageError(f"flag needs an argument: {name}", "shoal")
                i += 1
                value = argv[i]
            if name in ("-H", "--host"):
                host = value
        elif a.startswith("-H") and len(a) > 2:
            host = a[2:]
        elif a in ("-D", "--debug"):
            debug = True
        elif a in ("-v", "--version"):
            from shoal import API_VERSION, __version__

            sys.stdout.write(f"shoal version {__version__}, API {API_VERSION}\n")
            return host, debug, None
        elif a in ("-h", "--help"):
            sys.stdout.write(_top_help())
            return host, debug, None
        else:
            raise UsageError(f"unknown flag: {name}", "shoal")
        i += 1
    return _lab_host(host), debug, argv[i:]


def _lab_host(host: str) -> str:
    """Map a bare lab host name ("lab-2") to its daemon's socket; leave anything else.

    Only a value without "://" that is not a path costs a state file read.
    """
    if "://" in host or host.startswith("/") or "-" not in host:
        return host
    from .lab.model import resolve_host

    return resolve_host(host) or host


def _top_help() -> str:
    lines = ["", "Usage:  shoal [OPTIONS] COMMAND", "",
             "A container engine and Swarm-style orchestrator", "", "Common Commands:"]
    lines += [f"  {n:<11} {COMMANDS[n].summary}" for n in COMMON]
    lines += ["", "Management Commands:"]
    lines += [f"  {n:<11} {g.summary}" for n, g in sorted(GROUPS.items())]
    lines += ["", "Commands:"]
    lines += [f"  {n:<11} {e.summary}" for n, e in sorted(COMMANDS.items()) if n not in COMMON]
    lines += ["", _GLOBAL_HELP.rstrip("\n"), "",
              "Run 'shoal COMMAND --help' for more information on a command.", ""]
    return "\n".join(lines)


def _group_help(name: str, group: Group) -> str:
    lines = ["", f"Usage:  shoal {name} COMMAND", "", group.summary, "", "Commands:"]
    lines += [f"  {n:<11} {e.summary}" for n, e in sorted(group.commands.items())]
    lines += ["", f"Run 'shoal {name} COMMAND --help' for more information on a command.", ""]
    return "\n".join(lines)

