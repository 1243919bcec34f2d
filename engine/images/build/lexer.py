"""Shell-word processing of Dockerfile arguments: variable expansion, quotes, escapes.

Docker's rules (not a full shell): `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`,
`${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`, `${VAR?msg}`, plus `${VAR#glob}`,
`${VAR##glob}`, `${VAR%glob}`, `${VAR%%glob}`; single quotes are literal; in double
quotes only `$`, `"` and the escape character are special; the escape character
(`\\`, or `` ` `` with `# escape=`) makes the next character literal; quotes are removed.
An unset variable expands to "". Unquoted values of variables are split into words
by expand_words() (as a shell does), quoted ones are not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shoal.engine.images.build.errors import DockerfileError

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_EMPTY: dict[str, str] = {}


class _Words:
    """Accumulate characters into words; `split` makes unprotected whitespace a separator."""

    def __init__(self, split: bool) -> None:
        self.split = split
        self.words: list[str] = []
        self.word: list[str] = []
        self.in_word = False

    def char(self, ch: str) -> None:
        if self.split and ch.isspace():
            if self.in_word:
                self.words.append("".join(self.word))
                self.word, self.in_word = [], False
            return
        self.raw(ch)

    def raw(self, s: str) -> None:
        self.word.append(s)
        self.in_word = True

    def string(self, s: str) -> None:
        for ch in s:
            self.char(ch)

    def done(self) -> list[str]:
        if self.in_word:
            self.words.append("".join(self.word))
        return self.words


class _Lexer:
    """Process one string; with `env` None, keep variable references as written."""

    def __init__(
        self, text: str, env: Mapping[str, str] | None, escape: str, file: str, line: int
    ) -> None:
        self.s, self.i, self.n = text, 0, len(text)
        self.env, self.esc = env, escape
        self.file, self.line = file, line
        self.special = {"'", '"', "$", escape}

    def error(self, message: str) -> DockerfileError:
        return DockerfileError(message, file=self.file, line=self.line)

    def lit(self, ch: str) -> str:
        """Return CH as output: protected by the escape character when not expanding."""
        if self.env is None and ch in self.special:
            return self.esc + ch
        return ch

    def run(self, out: _Words, stop: str = "") -> None:
        """Process up to STOP (not consumed) or the end, into OUT."""
        s, esc = self.s, self.esc
        while self.i < self.n:
            ch = s[self.i]
            if ch == stop:
                return
            if ch == "'":
                out.raw(self.single_quote())
            elif ch == '"':
                out.raw(self.double_quote())
            elif ch == "$":
                value, raw = self.dollar()
                if raw:
                    out.raw(value)
                else:
                    out.string(value)
            elif ch == esc:
                self.i += 1
                if self.i < self.n:  # an escape character at the very end is dropped
                    out.raw(self.lit(s[self.i]))
                    self.i += 1
            else:
                out.char(ch)
                self.i += 1

    def single_quote(self) -> str:
        end = self.s.find("'", self.i + 1)
        if end < 0:
            raise self.error("unexpected end of statement while looking for matching single-quote")
        text = self.s[self.i + 1 : end]
        self.i = end + 1
        return "".join(self.lit(c) for c in text)

    def double_quote(self) -> str:
        s, esc = self.s, self.esc
        self.i += 1
        out: list[str] = []
        while self.i < self.n:
            ch = s[self.i]
            if ch == '"':
                self.i += 1
                return "".join(out)
            if ch == "$":
                out.append(self.dollar()[0])
                continue
            if ch == esc and self.i + 1 < self.n and s[self.i + 1] in ('"', "$", esc):
                self.i += 1
                ch = s[self.i]
            elif ch == esc and self.i + 1 == self.n:
                break
            out.append(self.lit(ch) if ch in ('"', "$", esc) or ch == "'" else ch)
            self.i += 1
        raise self.error("unexpected end of statement while looking for matching double-quote")

    def name(self) -> str:
        start = self.i
        if start < self.n and self.s[start].isdigit():
            self.i += 1  # $1: positional, one digit
            return self.s[start]
        while self.i < self.n and self.s[self.i] in _NAME_CHARS:
            self.i += 1
        return self.s[start : self.i]

    def dollar(self) -> tuple[str, bool]:
        """Process a `$` reference; return (text, whether it must not be word-split)."""
        start = self.i
        self.i += 1
        if self.i < self.n and self.s[self.i] == "{":
            self.i += 1
            return self.braced(start), self.env is None
        name = self.name()
        if not name:
            return self.lit("$"), True
        if self.env is None:
            return self.s[start : self.i], True
        return self.env.get(name, ""), False

    def braced(self, start: int) -> str:
        name = self.name()
        if not name:
            raise self.error(f"bad substitution: {self.s[start:]!r}")
        if self.i >= self.n:
            raise self.error(f"missing '}}' in {self.s[start:]!r}")
        op = self.s[self.i]
        self.i += 1
        if op == "}":
            value = self.env.get(name) if self.env is not None else None
            return self.s[start : self.i] if self.env is None else (value or "")
        if op == ":" and self.i < self.n and self.s[self.i] in "-+?":
            op += self.s[self.i]
            self.i += 1
        elif op in "#%" and self.i < self.n and self.s[self.i] == op:
            op += op
            self.i += 1
        elif op not in "-+?#%":
            raise self.error(f"unsupported modifier ({op}) in substitution {self.s[start:]!r}")
        sub = _Words(split=False)
        self.run(sub, stop="}")
        if self.i >= self.n:
            raise self.error(f"missing '}}' in {self.s[start:]!r}")
        self.i += 1
        if self.env is None:
            return self.s[start : self.i]
        word = "".join(sub.done())
        return self.modify(name, op, word)

    def modify(self, name: str, op: str, word: str) -> str:
        assert self.env is not None
        value = self.env.get(name)
        if op in ("-", ":-"):
            return word if value is None or (op == ":-" and not value) else value
        if op in ("+", ":+"):
            return "" if value is None or (op == ":+" and not value) else word
        if op in ("?", ":?"):
            if value is None or (op == ":?" and not value):
                raise self.error(f"{name}: {word or 'is not allowed to be unset'}")
            return value
        value = value or ""
        pattern = _glob_regex(word)
        if op[0] == "#":
            cuts = [k for k in range(len(value) + 1) if pattern.fullmatch(value, 0, k)]
            return value[(max(cuts) if op == "##" else min(cuts)) :] if cuts else value
        cuts = [k for k in range(len(value) + 1) if pattern.fullmatch(value, k)]
        return value[: (min(cuts) if op == "%%" else max(cuts))] if cuts else value


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Return a regex for a shell glob used in ${VAR#glob} and friends."""
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return re.compile("".join(out), re.S)


def expand(
    word: str,
    env: Mapping[str, str],
    *,
    escape: str = "\\",
    file: str = "Dockerfile",
    line: int = 0,
) -> str:
    """Return WORD with its variables substituted from ENV and its quotes removed."""
    if not any(c in word for c in ("$", "'", '"', escape)):
        return word  # the common case: nothing to process
    out = _Words(split=False)
    _Lexer(word, env, escape, file, line).run(out)
    return "".join(out.done())


def expand_words(
    text: str,
    env: Mapping[str, str],
    *,
    escape: str = "\\",
    file: str = "Dockerfile",
    line: int = 0,
) -> list[str]:
    """Split TEXT into words (honouring quotes and escapes) and expand each."""
    out = _Words(split=True)
    _Lexer(text, env, escape, file, line).run(out)
    return out.done()


def unquote(word: str, *, escape: str = "\\", file: str = "Dockerfile", line: int = 0) -> str:
    """Return WORD without its quotes but with its variable references kept.

    Characters the quotes protected (`$`, quotes, the escape character) come back
    escaped, so that expand(unquote(w), env) == expand(w, env); a plain value is unchanged.
    """
    if not any(c in word for c in ("'", '"', escape)):
        return word
    out = _Words(split=False)
    _Lexer(word, None, escape, file, line).run(out)
    return "".join(out.done())


def split_raw(text: str, escape: str = "\\") -> list[str]:
    """Split TEXT on whitespace outside quotes, keeping quotes and escapes (Docker's parseWords)."""
    words: list[str] = []
    word: list[str] = []
    quote = ""
    blank_ok = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == n:
                    break
                word.append(ch)
                i += 1
                ch = text[i]
            word.append(ch)
        elif ch.isspace():
            if word or blank_ok:
                words.append("".join(word))
            word, blank_ok = [], False
        else:
            if ch in ("'", '"'):
                quote, blank_ok = ch, True
            elif ch == escape:
                if i + 1 == n:
                    break
                word.append(ch)
                i += 1
                ch = text[i]
            word.append(ch)
        i += 1
    if word or blank_ok:
        words.append("".join(word))
    return words
