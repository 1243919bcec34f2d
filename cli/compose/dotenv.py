"""Read a ``.env`` file: the default values of the variables a Compose file uses.

Lines are ``KEY=VALUE`` (an ``export `` prefix is allowed), ``#`` starts a
comment line or, after a space, an inline comment of an unquoted value.
``'single'`` quotes keep the text as is; ``"double"`` quotes understand
``\\n``, ``\\t``, ``\\"`` and ``\\\\`` and may span lines. Unquoted and
double-quoted values may use ``${VAR}`` substitutions of earlier keys or the
environment. Variables of the real environment win over the file's.
"""

from __future__ import annotations

from .interpolate import InterpolationError, Interpolator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse_dotenv(text: str, environ: Mapping[str, str] | None = None,
                 filename: str = ".env") -> dict[str, str]:
    """Return the variables defined by a .env file's text."""
    environ = environ or {}
    out: dict[str, str] = {}
    interp = Interpolator(lambda k: environ.get(k, out.get(k)))
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno = i + 1
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, eq, raw = line.partition("=")
        key = key.strip()
        if not key or any(c.isspace() for c in key):
            raise ValueError(f"{filename}:{lineno}: invalid variable name {key!r}")
        if not eq:
            continue
        raw = raw.lstrip()
        try:
            if raw.startswith("'"):
                end = raw.find("'", 1)
                while end < 0 and i < len(lines):
                    raw += "\n" + lines[i]
                    i += 1
                    end = raw.find("'", 1)
                if end < 0:
                    raise ValueError("unterminated single quote")
                value = raw[1:end]
            elif raw.startswith('"'):
                value, done = _double(raw[1:])
                while not done and i < len(lines):
                    more, done = _double(lines[i])
                    value += "\n" + more
                    i += 1
                if not done:
                    raise ValueError("unterminated double quote")
                value = interp(value)
            else:
                cut = raw.find(" #")
                value = interp((raw if cut < 0 else raw[:cut]).rstrip())
        except (InterpolationError, ValueError) as exc:
            raise ValueError(f"{filename}:{lineno}: {key}: {exc}") from None
        out[key] = value
    return out


def _double(text: str) -> tuple[str, bool]:
    """Return (the decoded text up to a closing quote, whether the quote was found)."""
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$$")
            else:
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        if c == '"':
            return "".join(out), True
        out.append(c)
        i += 1
    return "".join(out), False
