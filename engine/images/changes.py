"""Apply Dockerfile instructions to an image config (`docker import --change`).

Supported: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
STOPSIGNAL, USER, VOLUME, WORKDIR, in JSON ("exec") and shell forms as in a
Dockerfile. A bad line raises InvalidChange naming the line and the problem.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import signal
from collections.abc import Callable
from typing import Any

from shoal.engine.images.errors import InvalidChange

Config = dict[str, Any]

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_SECOND = 10**9
_UNIT_NS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "ms": 10**6,
    "s": _SECOND,
    "m": 60 * _SECOND,
    "h": 3600 * _SECOND,
}
_PROTOCOLS = ("tcp", "udp", "sctp")


class _Bad(Exception):
    """A change line is malformed (converted to InvalidChange with the line)."""


def _json_list(rest: str) -> list[str] | None:
    """Return the JSON (exec) form of REST if it is one, else None."""
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _command(rest: str) -> list[str]:
    form = _json_list(rest)
    if form is not None:
        return form
    if not rest:
        raise _Bad("missing command")
    return ["/bin/sh", "-c", rest]


def _words(rest: str) -> list[str]:
    try:
        return shlex.split(rest)
    except ValueError as exc:
        raise _Bad(str(exc)) from None


def _pairs(rest: str, what: str) -> list[tuple[str, str]]:
    """Parse `k=v k2="v 2"` (or the legacy `k value with spaces`) into pairs."""
    words = _words(rest)
    if not words:
        raise _Bad(f"{what} needs at least one argument")
    if "=" not in words[0]:
        parts = rest.strip().split(None, 1)
        if len(parts) < 2:
            raise _Bad(f"{what} {parts[0]} has no value (want {what} name=value)")
        return [(parts[0], " ".join(_words(parts[1])) if parts[1] else "")]
    out = []
    for w in words:
        name, sep, value = w.partition("=")
        if not sep:
            raise _Bad(f"can't find = in {w!r}; must be of the form name=value")
        if not name:
            raise _Bad(f"{what} names can not be blank")
        out.append((name, value))
    return out


def _cmd(c: Config, rest: str) -> None:
    c["Cmd"] = _command(rest)


def _entrypoint(c: Config, rest: str) -> None:
    c["Entrypoint"] = _command(rest)


def _env(c: Config, rest: str) -> None:
    env: list[str] = list(c.get("Env") or [])
    for name, value in _pairs(rest, "ENV"):
        env = [e for e in env if e.split("=", 1)[0] != name] + [f"{name}={value}"]
    c["Env"] = env


def _label(c: Config, rest: str) -> None:
    labels = dict(c.get("Labels") or {})
    labels.update(_pairs(rest, "LABEL"))
    c["Labels"] = labels


def _port(spec: str) -> list[str]:
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in _PROTOCOLS:
        raise _Bad(f"invalid protocol {proto!r} in {spec!r} (want tcp, udp or sctp)")
    lo, _, hi = port.partition("-")
    if not lo.isdigit() or (hi and not hi.isdigit()):
        raise _Bad(f"invalid port {spec!r}")
    first, last = int(lo), int(hi or lo)
    if not 0 < first <= last <= 65535:
        raise _Bad(f"invalid port range {spec!r} (ports are 1-65535)")
    return [f"{p}/{proto}" for p in range(first, last + 1)]


def _expose(c: Config, rest: str) -> None:
    words = _words(rest)
    if not words:
        raise _Bad("EXPOSE needs at least one port")
    ports = dict(c.get("ExposedPorts") or {})
    for w in words:
        ports.update({p: {} for p in _port(w)})
    c["ExposedPorts"] = ports


def _volume(c: Config, rest: str) -> None:
    paths = _json_list(rest)
    if paths is None:
        paths = _words(rest)
    if not paths or any(not p.strip() for p in paths):
        raise _Bad("VOLUME specified can not be an empty string")
    volumes = dict(c.get("Volumes") or {})
    volumes.update({p: {} for p in paths})
    c["Volumes"] = volumes


def _workdir(c: Config, rest: str) -> None:
    if not rest:
        raise _Bad("WORKDIR needs a path")
    path = rest if rest.startswith("/") else posixpath.join(c.get("WorkingDir") or "/", rest)
    c["WorkingDir"] = posixpath.normpath(path)


def _user(c: Config, rest: str) -> None:
    if not rest:
        raise _Bad("USER needs a user name or id")
    c["User"] = rest


def _stopsignal(c: Config, rest: str) -> None:
    sig = rest.strip()
    name = sig.upper().removeprefix("SIG")
    known = {s.name.removeprefix("SIG") for s in signal.Signals}
    ok = (
        (sig.isdigit() and 0 < int(sig) <= 64)
        or name in known
        or bool(re.fullmatch(r"RT(MIN|MAX)([+-]\d+)?", name))
    )
    if not ok:
        raise _Bad(f"invalid signal {sig!r}")
    c["StopSignal"] = sig


def parse_duration(s: str) -> int:
    """Return a Go-style duration ("30s", "1m30s", "500ms") in nanoseconds."""
    if s == "0":
        return 0
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise _Bad(f"invalid duration {s!r} (want e.g. 30s, 1m30s, 500ms)")
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if not s:
        raise _Bad("empty duration")
    return int(total)


def _healthcheck(c: Config, rest: str) -> None:
    m = re.match(r"((?:--\S+\s+)*)(\S*)\s*(.*)", rest, re.S)
    assert m is not None  # the pattern matches any string
    opts: dict[str, str] = {}
    for opt in m.group(1).split():
        name, sep, value = opt[2:].partition("=")
        if not sep:
            raise _Bad(f"HEALTHCHECK option --{name} needs a value (--{name}=VALUE)")
        opts[name] = value
    if not m.group(2):
        raise _Bad("HEALTHCHECK needs NONE or CMD")
    kind, cmd_rest = m.group(2).upper(), m.group(3).strip()
    if kind == "NONE":
        if opts or cmd_rest:
            raise _Bad("HEALTHCHECK NONE takes no arguments")
        c["Healthcheck"] = {"Test": ["NONE"]}
        return
    if kind != "CMD":
        raise _Bad(f"unknown HEALTHCHECK type {m.group(2)!r} (want CMD or NONE)")
    form = _json_list(cmd_rest)
    if form is None and not cmd_rest:
        raise _Bad("HEALTHCHECK CMD needs a command")
    hc: dict[str, Any] = {"Test": ["CMD", *form] if form is not None else ["CMD-SHELL", cmd_rest]}
    fields = {
        "interval": "Interval",
        "timeout": "Timeout",
        "start-period": "StartPeriod",
        "start-interval": "StartInterval",
    }
    for name, value in opts.items():
        if name in fields:
            ns = parse_duration(value)
            if 0 < ns < 10**6:
                raise _Bad(f"--{name} cannot be less than 1ms")
            hc[fields[name]] = ns
        elif name == "retries":
            if not value.isdigit():
                raise _Bad(f"--retries must be a non-negative integer, not {value!r}")
            hc["Retries"] = int(value)
        else:
            raise _Bad(f"unknown HEALTHCHECK option --{name}")
    c["Healthcheck"] = hc


def _onbuild(c: Config, rest: str) -> None:
    trigger = rest.split(None, 1)[0].upper() if rest.strip() else ""
    if not trigger:
        raise _Bad("ONBUILD needs an instruction")
    if trigger in ("ONBUILD", "FROM", "MAINTAINER"):
        raise _Bad(f"{trigger} isn't allowed as an ONBUILD trigger")
    c["OnBuild"] = [*(c.get("OnBuild") or []), rest.strip()]


HANDLERS: dict[str, Callable[[Config, str], None]] = {
    "CMD": _cmd,
    "ENTRYPOINT": _entrypoint,
    "ENV": _env,
    "EXPOSE": _expose,
    "HEALTHCHECK": _healthcheck,
    "LABEL": _label,
    "ONBUILD": _onbuild,
    "STOPSIGNAL": _stopsignal,
    "USER": _user,
    "VOLUME": _volume,
    "WORKDIR": _workdir,
}


def apply_changes(config: Config, changes: list[str]) -> Config:
    """Apply CHANGES to CONFIG (the image config's "config" object) in order; return it."""
    for line in changes:
        parts = line.strip().split(None, 1)
        instr, rest = [*parts, "", ""][:2]
        if not instr:
            raise InvalidChange(f"invalid change {line!r}: empty instruction")
        handler = HANDLERS.get(instr.upper())
        if handler is None:
            raise InvalidChange(
                f"invalid change {line!r}: {instr} is not a valid change command "
                f"(want one of {', '.join(sorted(HANDLERS))})"
            )
        try:
            handler(config, rest.strip())
        except _Bad as exc:
            raise InvalidChange(f"invalid change {line!r}: {exc}") from None
    return config
