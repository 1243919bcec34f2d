"""WWW-Authenticate challenges (RFC 7235) as registries send them.

    Bearer realm="https://auth.example/token",service="registry",scope="repository:x:pull"
    Basic realm="Registry Realm"

A header may carry several challenges; parameters are token=token or
token=quoted-string (with backslash escapes), separated by commas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})(?=\s|$|,)")
_PARAM_RE = re.compile(rf'\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))\s*,?')
_UNESCAPE_RE = re.compile(r"\\(.)")


@dataclass
class Challenge:
    """One authentication challenge: a scheme ("bearer", "basic") and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse(header: str) -> list[Challenge]:
    """Parse a WWW-Authenticate header value into its challenges (schemes lowercased)."""
    out: list[Challenge] = []
    pos = 0
    while pos < len(header):
        while pos < len(header) and header[pos] in " ,\t":
            pos += 1
        m = _SCHEME_RE.match(header, pos)
        if m is None:
            break
        current = Challenge(m.group(1).lower())
        out.append(current)
        pos = m.end()
        while True:
            p = _PARAM_RE.match(header, pos)
            if p is None:
                break
            value = p.group(2) if p.group(2) is not None else p.group(3)
            current.params[p.group(1).lower()] = _UNESCAPE_RE.sub(r"\1", value)
            pos = p.end()
    return out


def pick(challenges: list[Challenge]) -> Challenge | None:
    """Return the challenge to answer: bearer before basic; None if neither is offered."""
    by_scheme = {c.scheme: c for c in challenges}
    return by_scheme.get("bearer") or by_scheme.get("basic")
