"""Parse a Dockerfile into stages of instructions (nothing is executed or expanded here).

Reading follows Docker's parser: parser directives (`# escape=`, `# syntax=`,
`# check=`) only at the very top; `#` comment lines and blank lines are skipped;
a line ending with the escape character (trailing blanks allowed) continues on
the next one, comment lines and blank lines inside a continuation are dropped.
Each instruction is parsed by instructions.parse_instruction (see there for the
shape of `args`, `flags` and `pairs`). Errors are DockerfileError("file:line: ...").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shoal.engine.images.build.errors import DockerfileError
from shoal.engine.images.build.instructions import KEYWORDS, Instruction, parse_instruction
from shoal.engine.images.build.lexer import expand, expand_words

__all__ = [
    "KEYWORDS",
    "Dockerfile",
    "Instruction",
    "Stage",
    "expand",
    "expand_words",
    "parse",
]

_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*")
_KNOWN_DIRECTIVES = ("escape", "syntax", "check")


@dataclass
class Stage:
    """A build stage: FROM and the instructions up to the next FROM."""

    index: int
    name: str | None
    base: str
    platform: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    """A parsed Dockerfile."""

    filename: str
    escape: str
    meta_args: list[Instruction]
    stages: list[Stage]

    def stage(self, name_or_index: str) -> Stage:
        """Return the stage named NAME_OR_INDEX (case-insensitive) or with that index."""
        key = str(name_or_index).lower()
        for st in self.stages:
            if st.name == key:
                return st
        if key.isdigit() and int(key) < len(self.stages):
            return self.stages[int(key)]
        names = ", ".join(s.name or str(s.index) for s in self.stages)
        raise DockerfileError(
            f"build stage {name_or_index!r} not found (stages: {names})", file=self.filename
        )


def _directives(lines: list[str], filename: str) -> tuple[str, int]:
    """Read the parser directives; return (escape character, number of lines they take)."""
    escape, seen = "\\", set()
    for n, raw in enumerate(lines):
        m = _DIRECTIVE.fullmatch(raw.strip())
        if not m or m.group(1).lower() not in _KNOWN_DIRECTIVES:
            return escape, n
        name, value = m.group(1).lower(), m.group(2)
        if name in seen:
            raise DockerfileError(
                f"only one {name} parser directive can be used", file=filename, line=n + 1
            )
        seen.add(name)
        if name == "escape":
            if value not in ("\\", "`"):
                raise DockerfileError(
                    f"invalid escape token {value!r} does not match ` or \\",
                    file=filename,
                    line=n + 1,
                )
            escape = value
    return escape, len(lines)


def _logical_lines(text: str, filename: str) -> tuple[str, list[tuple[int, str]]]:
    """Return (escape, [(first line number, instruction text with continuations joined)])."""
    lines = text.removeprefix("\ufeff").splitlines()
    escape, start = _directives(lines, filename)
    cont = re.compile(re.escape(escape) + r"[ \t]*$")
    out: list[tuple[int, str]] = []
    i = start
    while i < len(lines):
        first = lines[i].lstrip()
        i += 1
        if not first or first.startswith("#"):
            continue
        lineno = i
        text_, more = _trim(first, cont)
        parts = [text_]
        while more:
            if i == len(lines):
                if not "".join(parts).strip() or len(_split_keyword(parts)) < 2:
                    raise DockerfileError(
                        "unexpected end of file after a line continuation",
                        file=filename,
                        line=lineno,
                    )
                break
            nxt = lines[i]
            i += 1
            stripped = nxt.lstrip()
            if stripped.startswith("#") or not stripped:
                continue  # Docker drops comments and empty lines inside a continuation
            piece, more = _trim(nxt, cont)
            parts.append(piece)
        out.append((lineno, "".join(parts)))
    return escape, out


def _trim(line: str, cont: re.Pattern[str]) -> tuple[str, bool]:
    m = cont.search(line)
    return (line[: m.start()], True) if m else (line, False)


def _split_keyword(parts: list[str]) -> list[str]:
    return "".join(parts).split(None, 1)


def parse(text: str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse the Dockerfile TEXT; FILENAME is named in errors."""
    escape, logical = _logical_lines(text, filename)
    df = Dockerfile(filename, escape, [], [])
    for lineno, line in logical:
        ins = parse_instruction(line, lineno, escape, filename)
        if ins.keyword == "FROM":
            name = ins.args[2].lower() if len(ins.args) == 3 else None
            if name is not None and any(s.name == name for s in df.stages):
                raise DockerfileError(f"duplicate stage name {name!r}", file=filename, line=lineno)
            platform = ins.flags.get("platform")
            df.stages.append(Stage(len(df.stages), name, ins.args[0], platform, lineno))
        elif df.stages:
            df.stages[-1].instructions.append(ins)
        elif ins.keyword == "ARG":
            df.meta_args.append(ins)
        else:
            raise DockerfileError(
                f"{ins.keyword} before the first FROM: only ARG may come before FROM",
                file=filename,
                line=lineno,
            )
    if not df.stages:
        what = "no FROM instruction" if logical else "the Dockerfile has no instructions"
        raise DockerfileError(what, file=filename)
    return df
