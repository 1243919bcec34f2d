"""Match paths against .dockerignore rules, as Docker does (moby/patternmatcher).

Each rule is a pattern in Go's filepath.Match syntax (`*`, `?`, `[a-z]`, `[^a-z]`,
`\\` escapes) plus `**` for any number of directories; a leading `!` makes it an
exception. Rules are cleaned (`./a/../b` → `b`, a leading `/` dropped). A path is
ignored when the last rule matching it, or matching one of its parent
directories, is not an exception: later rules win.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class _Rule:
    pattern: str
    exclusion: bool
    regex: re.Pattern[str]
    parts: tuple[str, ...]


def glob_regex(pattern: str, double_star: bool = True) -> str:
    """Translate a Go filepath.Match pattern (plus `**` when DOUBLE_STAR) into a regex body."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if double_star and i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i == n else "(?:.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1 if i < n and pattern[i] in "^!" else i)
            if end < 0:
                out.append(re.escape(ch))
                continue
            body = pattern[i:end]
            i = end + 1
            neg = body[:1] in ("^", "!")
            body = body[1:] if neg else body
            body = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^' if neg else ''}{body}]")
        elif ch == "\\" and i < n:
            out.append(re.escape(pattern[i]))
            i += 1
        else:
            out.append(re.escape(ch))
    return "".join(out)


def clean_pattern(pattern: str) -> str:
    """Clean a pattern as Docker does: normalise it and drop a leading "/"."""
    cleaned = posixpath.normpath(pattern)
    if cleaned.startswith("//"):
        cleaned = cleaned.lstrip("/")
    if len(cleaned) > 1 and cleaned.startswith("/"):
        cleaned = cleaned[1:]
    return cleaned


class IgnoreMatcher:
    """The rules of one .dockerignore file."""

    def __init__(self, patterns: list[str]) -> None:
        self.rules: list[_Rule] = []
        for line in patterns:
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            exclusion = text.startswith("!")
            if exclusion:
                text = text[1:].strip()
            if not text:
                continue
            text = clean_pattern(text)
            regex = re.compile(glob_regex(text), re.S)
            self.rules.append(_Rule(text, exclusion, regex, tuple(text.split("/"))))
        self.has_exclusions = any(r.exclusion for r in self.rules)
        self._cache: dict[str, bool] = {}

    @classmethod
    def read(cls, context_dir: Path) -> IgnoreMatcher:
        """Return the rules of CONTEXT_DIR/.dockerignore (none when it does not exist)."""
        path = Path(context_dir) / ".dockerignore"
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except (FileNotFoundError, IsADirectoryError):
            return cls([])
        return cls(text.splitlines())

    def __bool__(self) -> bool:
        return bool(self.rules)

    def ignored(self, relpath: str) -> bool:
        """Tell whether RELPATH ("src/a.py", relative to the context) is ignored."""
        if not self.rules:
            return False
        hit = self._cache.get(relpath)
        if hit is None:
            hit = self._cache[relpath] = self._ignored(clean_pattern(relpath))
        return hit

    def _ignored(self, path: str) -> bool:
        if path in (".", "/", ""):
            return False
        parents: list[str] = []
        parent = posixpath.dirname(path)
        if parent:
            comps = parent.split("/")
            parents = ["/".join(comps[: k + 1]) for k in range(len(comps))]
        matched = False
        for rule in self.rules:
            if rule.exclusion != matched:
                continue  # an exception only matters once matched, a rule only until
            hit = rule.regex.fullmatch(path) is not None or any(
                rule.regex.fullmatch(p) for p in parents
            )
            if hit:
                matched = not rule.exclusion
        return matched

    def dir_may_contain_included(self, relpath: str) -> bool:
        """Tell whether something below the ignored directory RELPATH could be re-included.

        A walker skips an ignored directory when this is False.
        """
        if not self.ignored(relpath):
            return True
        dparts = clean_pattern(relpath).split("/")
        for rule in self.rules:
            if rule.exclusion and _may_match_below(rule.parts, dparts):
                return True
        return False


def _may_match_below(pparts: tuple[str, ...], dparts: list[str]) -> bool:
    """Tell whether a pattern of PPARTS could match a path below the directory DPARTS."""
    for k, dcomp in enumerate(dparts):
        if k >= len(pparts):
            return False
        pcomp = pparts[k]
        if "**" in pcomp:
            return True
        if not re.fullmatch(glob_regex(pcomp, double_star=False), dcomp, re.S):
            return False
    return len(pparts) > len(dparts)
