"""Parse command lines with docker's (spf13/pflag's) rules, and print their help.

Why not argparse: it costs ~8 ms to import and build, and its rules differ
from docker's where it matters — `shoal run IMAGE ls -la` must stop parsing
at IMAGE (``interspersed=False``), ``-it``/``-dit`` combine booleans,
``-eK=V`` and ``-e=K=V`` take attached values, and errors must read like
docker's (``unknown shorthand flag: 'x' in -x``) and exit 125.
"""

from __future__ import annotations

from .errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_FALSE = ("0", "f", "F", "false", "FALSE", "False")
_TYPE_NAMES = {"bool": "", "string": "string", "int": "int", "list": "list"}


class Flag:
    """Describe one option: ``kind`` is bool, string, int or list (repeatable)."""

    __slots__ = ("aliases", "conv", "default", "dest", "help", "hidden", "kind", "metavar",
                 "name", "short")

    def __init__(self, name: str, short: str = "", kind: str = "bool", help: str = "",
                 default: Any = None, conv: Callable[[str], Any] | None = None,
                 metavar: str | None = None, hidden: bool = False,
                 aliases: Sequence[str] = ()) -> None:
        self.name, self.short, self.kind, self.help = name, short, kind, help
        if default is None:
            default = {"bool": False, "string": "", "list": []}.get(kind)
        self.default = default
        self.conv = conv
        self.metavar = _TYPE_NAMES[kind] if metavar is None else metavar
        self.hidden = hidden
        self.aliases = tuple(aliases)
        self.dest = name.replace("-", "_")

    def label(self) -> str:
        """Return ``-m, --memory`` as docker names a flag in its errors."""
        return f"-{self.short}, --{self.name}" if self.short else f"--{self.name}"


class Options:
    """Hold parsed values as attributes (``opts.detach``); ``changed`` names the set ones."""

    def __init__(self) -> None:
        self.changed: set[str] = set()

    def __getattr__(self, name: str) -> Any:  # only reached for unknown names
        raise AttributeError(name)


class Command:
    """Describe a command's usage, summary, flags and positional-argument rules."""

    __slots__ = ("by_long", "by_short", "flags", "interspersed", "max_args", "min_args",
                 "summary", "usage")

    def __init__(self, usage: str, summary: str, flags: Sequence[Flag] = (),
                 min_args: int = 0, max_args: int | None = None,
                 interspersed: bool = True) -> None:
        self.usage, self.summary = usage, summary
        self.flags = list(flags)
        self.min_args, self.max_args = min_args, max_args
        self.interspersed = interspersed
        self.by_long: dict[str, Flag] = {}
        self.by_short: dict[str, Flag] = {}
        for f in self.flags:
            self.by_long[f.name] = f
            for a in f.aliases:
                self.by_long[a] = f
            if f.short:
                self.by_short[f.short] = f

    def parse(self, argv: Sequence[str], path: str) -> tuple[Options, list[str]] | None:
        """Return (options, positional args), or None when help was asked for.

        ``path`` is the command as the user typed it ("shoal container run"); it
        names the command in errors and help.
        """
        opts = Options()
        for f in self.flags:
            setattr(opts, f.dest, list(f.default) if f.kind == "list" else f.default)
        args: list[str] = []
        help_short = "h" not in self.by_short
        i, n = 0, len(argv)
        while i < n:
            a = argv[i]
            i += 1
            if a == "--":
                args.extend(argv[i:])
                break
            if not a.startswith("-") or a == "-":
                args.append(a)
                if not self.interspersed:
                    args.extend(argv[i:])
                    break
                continue
            if a.startswith("--"):
                name, eq, value = a[2:].partition("=")
                if name == "help":
                    return None
                flag = self.by_long.get(name)
                if flag is None:
                    raise UsageError(f"unknown flag: --{name}", path)
                if flag.kind == "bool":
                    self._set(opts, flag, value if eq else "true", path)
                elif eq:
                    self._set(opts, flag, value, path)
                elif i < n:
                    self._set(opts, flag, argv[i], path)
                    i += 1
                else:
                    raise UsageError(f"flag needs an argument: --{name}", path)
                continue
            shorts = a[1:]
            j = 0
            while j < len(shorts):
                c = shorts[j]
                j += 1
                flag = self.by_short.get(c)
                if flag is None:
                    if c == "h" and help_short:
                        return None
                    raise UsageError(f"unknown shorthand flag: '{c}' in {a}", path)
                if flag.kind == "bool":
                    if shorts[j:j + 1] == "=":
                        self._set(opts, flag, shorts[j + 1:], path)
                        break
                    self._set(opts, flag, "true", path)
                    continue
                rest = shorts[j:]
                if rest:
                    self._set(opts, flag, rest[1:] if rest[0] == "=" else rest, path)
                elif i < n:
                    self._set(opts, flag, argv[i], path)
                    i += 1
                else:
                    raise UsageError(f"flag needs an argument: '{c}' in -{c}", path)
                break
        self._check_args(args, path)
        return opts, args

    def _set(self, opts: Options, flag: Flag, value: str, path: str) -> None:
        try:
            if flag.kind == "bool":
                if value in _TRUE:
                    v: Any = True
                elif value in _FALSE:
                    v = False
                else:
                    raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')
            elif flag.kind == "int":
                try:
                    v = int(value, 10)
                except ValueError:
                    raise ValueError(
                        f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
            else:
                v = value
            if flag.conv is not None:
                v = flag.conv(value)
        except ValueError as exc:
            raise UsageError(
                f'invalid argument "{value}" for "{flag.label()}" flag: {exc}', path) from None
        if flag.kind == "list":
            getattr(opts, flag.dest).append(v)
        else:
            setattr(opts, flag.dest, v)
        opts.changed.add(flag.dest)

    def _check_args(self, args: list[str], path: str) -> None:
        n = len(args)
        if n < self.min_args:
            if self.max_args == self.min_args:
                what = f"exactly {self.min_args} argument{'s' if self.min_args != 1 else ''}"
            else:
                what = f"at least {self.min_args} argument{'s' if self.min_args != 1 else ''}"
            raise self.args_error(path, what)
        if self.max_args is not None and n > self.max_args:
            if self.max_args == 0:
                raise self.args_error(path, "no arguments", accepts=True)
            what = (f"exactly {self.max_args} argument{'s' if self.max_args != 1 else ''}"
                    if self.max_args == self.min_args else
                    f"at most {self.max_args} argument{'s' if self.max_args != 1 else ''}")
            raise self.args_error(path, what)

    def args_error(self, path: str, what: str, accepts: bool = False) -> UsageError:
        """Return docker's '"shoal run" requires at least 1 argument.' error (exit 1)."""
        verb = "accepts" if accepts else "requires"
        usage = self.usage.replace("{prog}", path)
        msg = (f'"{path}" {verb} {what}.\nSee \'{path} --help\'.\n\n'
               f"Usage:  {usage}\n\n{self.summary}")
        err = UsageError(msg, "")
        err.exit_code = 1
        return err

    def help(self, path: str) -> str:
        """Return the --help text: usage, summary and the options table."""
        lines = ["", f"Usage:  {self.usage.replace('{prog}', path)}", "", self.summary]
        visible = [f for f in self.flags if not f.hidden]
        if visible:
            lines += ["", "Options:"]
            lines += format_flags(visible, help_flag=("h" not in self.by_short))
        return "\n".join(lines) + "\n"


def format_flags(flags: Sequence[Flag], help_flag: bool = True) -> list[str]:
    """Return aligned option lines like pflag's FlagUsages, sorted by long name."""
    rows: list[tuple[str, str, str]] = []
    for f in flags:
        left = f"  -{f.short}, --{f.name}" if f.short else f"      --{f.name}"
        if f.metavar:
            left += " " + f.metavar
        text, d = f.help, f.default
        if f.kind != "list" and d is not None and d is not False and d != "" and d != 0:
            text += f" (default {_show_default(d)})"
        rows.append((f.name, left, text))
    rows.append(("help", "  -h, --help" if help_flag else "      --help", "Print usage"))
    rows.sort()
    width = max(len(left) for _, left, _ in rows)
    return [f"{left.ljust(width)}   {text}".rstrip() for _, left, text in rows]


def _show_default(value: Any) -> str:
    if value is True:
        return "true"
    return f'"{value}"' if isinstance(value, str) else str(value)
