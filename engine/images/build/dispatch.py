"""Config-only Dockerfile instructions: how each one changes the image config.

`apply(ins, image_config, env, stage)` changes IMAGE_CONFIG (the whole image config:
its "config" object holds Env, Cmd, ...) for ENV, LABEL, WORKDIR, USER, CMD,
ENTRYPOINT, EXPOSE, VOLUME, HEALTHCHECK, STOPSIGNAL, SHELL, ONBUILD, MAINTAINER
and ARG, and returns the `created_by` text of its history entry, as Docker's
classic builder writes it ("/bin/sh -c #(nop)  ENV K=V"). Arguments are expanded
with ENV (the step's environment: the stage's ENV over its ARGs) where Docker
expands them; CMD, ENTRYPOINT, SHELL and ONBUILD are kept as written.
"""

from __future__ import annotations

import json
import posixpath
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shoal.engine.images.build.dockerfile import Instruction, expand, expand_words
from shoal.engine.images.build.errors import DockerfileError

DEFAULT_SHELL = ["/bin/sh", "-c"]
CONFIG_ONLY = frozenset(
    "ENV LABEL WORKDIR USER CMD ENTRYPOINT EXPOSE VOLUME HEALTHCHECK STOPSIGNAL SHELL "
    "ONBUILD MAINTAINER ARG".split()
)
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


@dataclass
class StageFlags:
    """What a stage remembers beyond its config: whether CMD was set in this stage."""

    cmd_set: bool = False
    escape: str = "\\"
    file: str = "Dockerfile"


def parse_duration(text: str) -> int:
    """Return Go's duration TEXT ("1m30s", "500ms", "0") in nanoseconds."""
    if text == "0":
        return 0
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {text!r}")
    return int(total)


def env_map(config: Mapping[str, Any]) -> dict[str, str]:
    """Return the container config's Env list as a dict."""
    out: dict[str, str] = {}
    for item in config.get("Env") or []:
        k, _, v = str(item).partition("=")
        out[k] = v
    return out


def set_env(config: dict[str, Any], key: str, value: str) -> None:
    """Set KEY=VALUE in the config's Env list, replacing an earlier KEY in place."""
    env = list(config.get("Env") or [])
    item = f"{key}={value}"
    for i, e in enumerate(env):
        if e.partition("=")[0] == key:
            env[i] = item
            break
    else:
        env.append(item)
    config["Env"] = env


def shell_of(config: Mapping[str, Any]) -> list[str]:
    return list(config.get("Shell") or DEFAULT_SHELL)


def command(ins: Instruction, config: Mapping[str, Any]) -> list[str]:
    """Return the argv of a RUN/CMD/ENTRYPOINT (shell form: the SHELL plus the text)."""
    return list(ins.args) if ins.json else [*shell_of(config), ins.args[0]]


def nop(text: str) -> str:
    return f"/bin/sh -c #(nop) {text}"


def _error(ins: Instruction, flags: StageFlags, message: str) -> DockerfileError:
    return DockerfileError(message, file=flags.file, line=ins.line)


def _words(ins: Instruction, env: Mapping[str, str], flags: StageFlags) -> list[str]:
    return [expand(w, env, escape=flags.escape, file=flags.file, line=ins.line) for w in ins.args]


def _pairs(ins: Instruction, env: Mapping[str, str], flags: StageFlags) -> list[tuple[str, str]]:
    return [
        (k, expand(v or "", env, escape=flags.escape, file=flags.file, line=ins.line))
        for k, v in ins.pairs
    ]


def _ports(words: list[str], ins: Instruction, flags: StageFlags) -> list[str]:
    out = []
    for w in words:
        port, _, proto = w.partition("/")
        proto = (proto or "tcp").lower()
        lo, _, hi = port.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()) or proto not in ("tcp", "udp", "sctp"):
            raise _error(ins, flags, f"EXPOSE: invalid port {w!r} (want PORT[/PROTO])")
        for p in range(int(lo), int(hi or lo) + 1):
            out.append(f"{p}/{proto}")
    return out


def _healthcheck(ins: Instruction, flags: StageFlags) -> dict[str, Any]:
    if ins.args == ["NONE"]:
        return {"Test": ["NONE"]}
    sub = ins.sub
    assert sub is not None
    test = ["CMD", *sub.args] if sub.json else ["CMD-SHELL", sub.args[0]]
    hc: dict[str, Any] = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                      ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
        if flag in ins.flags:
            try:
                hc[key] = parse_duration(ins.flags[flag])
            except ValueError as exc:
                raise _error(ins, flags, f"HEALTHCHECK --{flag}: {exc}") from None
    if "retries" in ins.flags:
        hc["Retries"] = int(ins.flags["retries"])
    return hc


def _signal(value: str, ins: Instruction, flags: StageFlags) -> str:
    text = value.upper()
    if text.isdigit():
        return value
    name = text if text.startswith("SIG") else "SIG" + text
    known = name in signal.Signals.__members__
    if not known and not re.fullmatch(r"SIGRTM(IN|AX)([+-]\d+)?", name):
        raise _error(ins, flags, f"STOPSIGNAL: invalid signal {value!r}")
    return value


def apply(
    ins: Instruction, image_config: dict[str, Any], env: Mapping[str, str], flags: StageFlags
) -> str:
    """Apply the config-only instruction INS to IMAGE_CONFIG; return its history created_by."""
    cfg: dict[str, Any] = image_config.setdefault("config", {})
    kw = ins.keyword
    if kw == "ENV":
        pairs = _pairs(ins, env, flags)
        for k, v in pairs:
            set_env(cfg, k, v)
        return nop("ENV " + " ".join(f"{k}={v}" for k, v in pairs))
    if kw == "LABEL":
        pairs = _pairs(ins, env, flags)
        cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(pairs)}
        return nop("LABEL " + " ".join(f"{k}={v}" for k, v in pairs))
    if kw == "WORKDIR":
        path = _words(ins, env, flags)[0]
        cfg["WorkingDir"] = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", path))
        return nop(f"WORKDIR {cfg['WorkingDir']}")
    if kw == "USER":
        cfg["User"] = _words(ins, env, flags)[0]
        return nop(f"USER {cfg['User']}")
    if kw == "CMD":
        cfg["Cmd"] = command(ins, cfg)
        flags.cmd_set = True
        return nop(f"CMD {json.dumps(cfg['Cmd'])}")
    if kw == "ENTRYPOINT":
        cfg["Entrypoint"] = command(ins, cfg)
        if not flags.cmd_set:
            cfg["Cmd"] = None  # a CMD of the base image does not survive a new ENTRYPOINT
        return nop(f"ENTRYPOINT {json.dumps(cfg['Entrypoint'])}")
    if kw == "EXPOSE":
        words = [w for a in ins.args for w in expand_words(
            a, env, escape=flags.escape, file=flags.file, line=ins.line)]
        ports = _ports(words, ins, flags)
        cfg["ExposedPorts"] = {**(cfg.get("ExposedPorts") or {}), **{p: {} for p in ports}}
        return nop("EXPOSE " + " ".join(ports))
    if kw == "VOLUME":
        paths = _words(ins, env, flags)
        if any(not p.strip() for p in paths):
            raise _error(ins, flags, "VOLUME specified can not be an empty string")
        cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{p: {} for p in paths}}
        return nop(f"VOLUME {json.dumps(paths)}")
    if kw == "HEALTHCHECK":
        cfg["Healthcheck"] = _healthcheck(ins, flags)
        return nop(f"HEALTHCHECK {json.dumps(cfg['Healthcheck'], separators=(',', ':'))}")
    if kw == "STOPSIGNAL":
        cfg["StopSignal"] = _signal(_words(ins, env, flags)[0], ins, flags)
        return nop(f"STOPSIGNAL {cfg['StopSignal']}")
    if kw == "SHELL":
        cfg["Shell"] = list(ins.args)
        return nop(f"SHELL {json.dumps(cfg['Shell'])}")
    if kw == "ONBUILD":
        word, _, rest = ins.args[0].strip().partition(" ")
        trigger = f"{word.upper()} {rest.strip()}".strip()
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), trigger]
        return nop(f"ONBUILD {trigger}")
    if kw == "MAINTAINER":
        image_config["author"] = _words(ins, env, flags)[0]
        return nop(f"MAINTAINER {image_config['author']}")
    if kw == "ARG":
        return nop("ARG " + " ".join(k if v is None else f"{k}={v}" for k, v in ins.pairs))
    raise _error(ins, flags, f"{kw} is not a config-only instruction")
