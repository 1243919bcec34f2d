"""Parse one Dockerfile instruction (its logical line) into an Instruction.

Argument shapes follow Docker's parser:
- RUN, CMD, ENTRYPOINT, SHELL: a JSON array of strings is the exec form (`json`
  True, `args` the list); anything else is the shell form, `args` = [the text].
  Malformed JSON falls back to the shell form, as in Docker. SHELL must be JSON.
- COPY, ADD, VOLUME: a JSON array, or the whitespace-split words.
- FROM, EXPOSE, ARG: the whitespace-split words.
- WORKDIR, USER, STOPSIGNAL, MAINTAINER: one argument, the whole text (Docker
  keeps `WORKDIR /my dir` as one path).
- ENV, LABEL: the raw words; `pairs` holds (key, value) with quotes removed.
- ARG: the words; `pairs` holds (name, default or None).
- ONBUILD: args = [the wrapped text], `sub` = the wrapped instruction.
- HEALTHCHECK: NONE → args ["NONE"]; CMD → args ["CMD", *command], `sub` = the CMD.
Flags (`--name=value` before the arguments) land in `flags` without their dashes:
flags["from"], flags["chown"] ...; a boolean flag (`--link`) has the value "true".
Nothing is variable-expanded here: values are expanded per step by the builder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from shoal.engine.images.build.errors import DockerfileError
from shoal.engine.images.build.lexer import split_raw, unquote

KEYWORDS = (
    "FROM RUN CMD ENTRYPOINT COPY ADD ENV ARG WORKDIR USER EXPOSE LABEL VOLUME "
    "HEALTHCHECK STOPSIGNAL SHELL ONBUILD MAINTAINER"
).split()

# Flags each instruction accepts; True marks a boolean flag.
FLAGS: dict[str, dict[str, bool]] = {
    "COPY": {"from": False, "chown": False, "chmod": False, "link": True},
    "ADD": {"chown": False, "chmod": False, "link": True},
    "FROM": {"platform": False},
    "HEALTHCHECK": {
        "interval": False,
        "timeout": False,
        "start-period": False,
        "start-interval": False,
        "retries": False,
    },
}
_JSON_FORM = {"RUN", "CMD", "ENTRYPOINT", "SHELL"}
_JSON_OR_WORDS = {"COPY", "ADD", "VOLUME"}
_ONE_STRING = {"WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER"}
_WS = re.compile(r"[ \t\r\n\v\f]+")
_NOT_TRIGGERS = ("ONBUILD", "FROM", "MAINTAINER")


@dataclass
class Instruction:
    """One Dockerfile instruction, parsed but not expanded."""

    keyword: str
    args: list[str]
    flags: dict[str, str] = field(default_factory=dict)
    json: bool = False
    line: int = 0
    text: str = ""
    pairs: list[tuple[str, str | None]] = field(default_factory=list)
    sub: Instruction | None = None


class _Parser:
    def __init__(self, text: str, line: int, escape: str, file: str) -> None:
        self.text, self.line, self.escape, self.file = text, line, escape, file

    def error(self, message: str) -> DockerfileError:
        return DockerfileError(message, file=self.file, line=self.line)

    def parse(self, text: str) -> Instruction:
        parts = _WS.split(text.strip(), maxsplit=1)
        word = parts[0]
        keyword = word.upper()
        if keyword not in KEYWORDS:
            hint = _suggest(keyword)
            raise self.error(
                f"unknown instruction: {word}" + (f" (did you mean {hint}?)" if hint else "")
            )
        rest, flag_words = _extract_flags(parts[1] if len(parts) > 1 else "")
        ins = Instruction(keyword, [], line=self.line, text=text.strip())
        ins.flags = self.flags(keyword, flag_words)
        getattr(self, "_" + keyword.lower(), self._words)(ins, rest)
        return ins

    def flags(self, keyword: str, words: list[str]) -> dict[str, str]:
        known = FLAGS.get(keyword, {})
        out: dict[str, str] = {}
        for w in words:
            name, eq, value = w[2:].partition("=")
            if name not in known:
                want = ", ".join("--" + k for k in known) or "none"
                raise self.error(f"{keyword}: unknown flag --{name} (accepted flags: {want})")
            if name in out:
                raise self.error(f"{keyword}: duplicate flag --{name}")
            if known[name]:
                if eq and value.lower() not in ("true", "false"):
                    raise self.error(f"{keyword}: --{name} takes true or false, not {value!r}")
                value = value.lower() if eq else "true"
            elif not eq:
                raise self.error(
                    f"{keyword}: missing a value on flag --{name} (want --{name}=VALUE)"
                )
            out[name] = value
        return out

    def need(self, ins: Instruction, n: int, what: str = "") -> None:
        if len(ins.args) < n:
            count = "at least one argument" if n == 1 else "at least two arguments"
            raise self.error(f"{ins.keyword} requires {count}{what}")

    def _words(self, ins: Instruction, rest: str) -> None:
        ins.args = _WS.split(rest) if rest else []
        self.need(ins, 1)

    def _maybe_json(self, ins: Instruction, rest: str) -> None:
        form = _json_list(rest)
        if form is not None:
            ins.args, ins.json = form, True
        else:
            ins.args = [rest] if rest else []
            self.need(ins, 1)

    _run = _cmd = _entrypoint = _maybe_json

    def _shell(self, ins: Instruction, rest: str) -> None:
        form = _json_list(rest)
        if form is None or not form:
            raise self.error(
                'SHELL requires the arguments to be a JSON array, e.g. ["/bin/sh", "-c"]'
            )
        ins.args, ins.json = form, True

    def _list(self, ins: Instruction, rest: str) -> None:
        form = _json_list(rest)
        if form is not None:
            ins.args, ins.json = form, True
        else:
            ins.args = _WS.split(rest) if rest else []
        if ins.keyword == "VOLUME":
            self.need(ins, 1)
            if any(not a.strip() for a in ins.args):
                raise self.error("VOLUME specified can not be an empty string")
        else:
            self.need(ins, 2, f" (sources and a destination), got {len(ins.args)}")

    _copy = _add = _volume = _list

    def _one(self, ins: Instruction, rest: str) -> None:
        ins.args = [rest] if rest else []
        self.need(ins, 1)
        if ins.keyword == "STOPSIGNAL" and _WS.search(rest):
            raise self.error(f"STOPSIGNAL takes one signal, not {rest!r}")

    _workdir = _user = _stopsignal = _maintainer = _one

    def _from(self, ins: Instruction, rest: str) -> None:
        self._words(ins, rest)
        if len(ins.args) not in (1, 3) or (len(ins.args) == 3 and ins.args[1].upper() != "AS"):
            raise self.error("FROM requires either one argument (image) or three (image AS name)")
        if len(ins.args) == 3 and not re.fullmatch(r"[a-z][a-z0-9._-]*", ins.args[2].lower()):
            raise self.error(
                f"invalid name for build stage: {ins.args[2]!r}, "
                "name can't start with a number or contain symbols"
            )

    def _env(self, ins: Instruction, rest: str) -> None:
        words = split_raw(rest, self.escape)
        if not words:
            raise self.error(f"{ins.keyword} requires at least one argument")
        if "=" not in words[0]:  # legacy `ENV name value with spaces`
            parts = _WS.split(rest.strip(), maxsplit=1)
            if len(parts) < 2:
                raise self.error(
                    f"{ins.keyword} {parts[0]} has no value (want {ins.keyword} name=value)"
                )
            ins.args = parts
            ins.pairs = [(parts[0], self.unquote(parts[1]))]
            return
        ins.args = words
        for w in words:
            key, eq, value = w.partition("=")
            if not eq:
                raise self.error(
                    f"Syntax error - can't find = in {w!r}. Must be of the form: name=value"
                )
            key = self.unquote(key)
            if not key:
                raise self.error(f"{ins.keyword} names can not be blank")
            ins.pairs.append((key, self.unquote(value)))

    _label = _env

    def _arg(self, ins: Instruction, rest: str) -> None:
        ins.args = split_raw(rest, self.escape)
        self.need(ins, 1)
        for w in ins.args:
            key, eq, value = w.partition("=")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise self.error(f"ARG: invalid name {key!r}")
            ins.pairs.append((key, self.unquote(value) if eq else None))

    def _expose(self, ins: Instruction, rest: str) -> None:
        self._words(ins, rest)

    def _onbuild(self, ins: Instruction, rest: str) -> None:
        if not rest:
            raise self.error("ONBUILD requires at least one argument")
        trigger = _WS.split(rest, maxsplit=1)[0].upper()
        if trigger in _NOT_TRIGGERS:
            raise self.error(f"{trigger} isn't allowed as an ONBUILD trigger")
        ins.args = [rest]
        ins.sub = self.parse(rest)

    def _healthcheck(self, ins: Instruction, rest: str) -> None:
        parts = _WS.split(rest, maxsplit=1) if rest else []
        if not parts:
            raise self.error("HEALTHCHECK requires at least one argument (CMD ... or NONE)")
        kind, cmd = parts[0].upper(), parts[1] if len(parts) > 1 else ""
        if kind == "NONE":
            if cmd or ins.flags:
                raise self.error("HEALTHCHECK NONE takes no arguments")
            ins.args = ["NONE"]
            return
        if kind != "CMD":
            raise self.error(f"unknown type {parts[0]!r} in HEALTHCHECK (try CMD)")
        if not cmd:
            raise self.error("missing command after HEALTHCHECK CMD")
        sub = Instruction("CMD", [], line=self.line, text=rest)
        self._maybe_json(sub, cmd)
        ins.sub, ins.json = sub, sub.json
        ins.args = ["CMD", *sub.args]
        for name in ("interval", "timeout", "start-period", "start-interval"):
            if name in ins.flags and not _DURATION.fullmatch(ins.flags[name]):
                raise self.error(
                    f"HEALTHCHECK --{name}: invalid duration {ins.flags[name]!r} (e.g. 30s, 1m30s)"
                )
        if "retries" in ins.flags and not ins.flags["retries"].isdigit():
            raise self.error("HEALTHCHECK --retries must be a non-negative integer")

    def unquote(self, word: str) -> str:
        return unquote(word, escape=self.escape, file=self.file, line=self.line)


_DURATION = re.compile(r"0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+")


def _json_list(rest: str) -> list[str] | None:
    """Return REST as a JSON array of strings, or None (the shell form then)."""
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Split the leading `--flag` words off LINE; return (the rest, the flag words).

    A flag word may be quoted (`--chown="a b"`); `--` alone ends the flags.
    """
    words: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if not line.startswith("--", i):
            return line[i:].rstrip(), words
        word: list[str] = []
        quote = ""
        while i < n and (quote or not line[i].isspace()):
            ch = line[i]
            if quote and ch == quote:
                quote = ""
            elif not quote and ch in ("'", '"'):
                quote = ch
            elif ch == "\\" and i + 1 < n and quote != "'":
                i += 1
                word.append(line[i])
            else:
                word.append(ch)
            i += 1
        text = "".join(word)
        if text == "--":
            return line[i:].strip(), words
        words.append(text)


def _suggest(word: str) -> str:
    """Return the keyword WORD is probably a typo of, or ""."""
    import difflib

    close = difflib.get_close_matches(word, KEYWORDS, n=1, cutoff=0.75)
    return close[0] if close else ""


def parse_instruction(
    text: str, line: int, escape: str = "\\", file: str = "Dockerfile"
) -> Instruction:
    """Parse the logical line TEXT (continuations joined) that starts at LINE."""
    return _Parser(text, line, escape, file).parse(text)
