"""Substitute ``$VAR`` and ``${VAR...}`` in Compose values, as docker compose does.

    $VAR ${VAR}       the value; unset -> "" and a warning
    ${VAR:-default}   default when VAR is unset or empty     ${VAR-default}  when unset
    ${VAR:?message}   error when VAR is unset or empty       ${VAR?message}  when unset
    ${VAR:+other}     other when VAR is set and not empty    ${VAR+other}    when set
    $$                a literal $

Defaults, messages and alternatives may themselves hold substitutions
(``${A:-${B:-x}}``). Any other ``$`` is an error, as in Compose.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

ESCAPE_HINT = "You may need to escape any $ with another $."


class InterpolationError(ValueError):
    """An invalid ``${...}`` or a required variable without a value."""


def _name_start(c: str) -> bool:
    return c == "_" or ("a" <= c.lower() <= "z")


def _name_char(c: str) -> bool:
    return _name_start(c) or c.isdigit()


class Interpolator:
    """Substitute variables from lookup; remember the unset ones that defaulted to ""."""

    def __init__(self, lookup: Callable[[str], str | None]) -> None:
        self.lookup = lookup
        self.unset: list[str] = []

    def __call__(self, text: str) -> str:
        """Return text with every substitution done."""
        if "$" not in text:
            return text
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            if c != "$":
                j = text.find("$", i)
                j = n if j < 0 else j
                out.append(text[i:j])
                i = j
                continue
            nxt = text[i + 1] if i + 1 < n else ""
            if nxt == "$":
                out.append("$")
                i += 2
            elif nxt == "{":
                end = self._closing(text, i + 2)
                out.append(self._braced(text[i + 2:end], text))
                i = end + 1
            elif nxt and _name_start(nxt):
                j = i + 1
                while j < n and _name_char(text[j]):
                    j += 1
                out.append(self._value(text[i + 1:j]))
                i = j
            else:
                raise InterpolationError(f'invalid interpolation format: "{text}". {ESCAPE_HINT}')
        return "".join(out)

    @staticmethod
    def _closing(text: str, start: int) -> int:
        """Return the index of the ``}`` closing a ``${`` whose body starts at start."""
        depth, i = 0, start
        while i < len(text):
            if text.startswith("$$", i):
                i += 2
                continue
            if text.startswith("${", i):
                depth += 1
                i += 2
                continue
            if text[i] == "}":
                if depth == 0:
                    return i
                depth -= 1
            i += 1
        raise InterpolationError(f'invalid interpolation format: "{text}". {ESCAPE_HINT}')

    def _value(self, name: str) -> str:
        value = self.lookup(name)
        if value is None:
            if name not in self.unset:
                self.unset.append(name)
            return ""
        return value

    def _braced(self, body: str, text: str) -> str:
        j = 0
        while j < len(body) and _name_char(body[j]):
            j += 1
        name, rest = body[:j], body[j:]
        if not name or not _name_start(name[0]):
            raise InterpolationError(f'invalid interpolation format: "{text}". {ESCAPE_HINT}')
        if not rest:
            return self._value(name)
        colon = rest.startswith(":")
        op = rest[1:2] if colon else rest[:1]
        arg = rest[2:] if colon else rest[1:]
        if op not in ("-", "?", "+"):
            raise InterpolationError(f'invalid interpolation format: "{text}". {ESCAPE_HINT}')
        value = self.lookup(name)
        present = value is not None and (value != "" or not colon)
        if op == "-":
            return value if present and value is not None else self(arg)
        if op == "+":
            return self(arg) if present else ""
        if not present:
            message = self(arg)
            raise InterpolationError(f"required variable {name} is missing a value"
                                     + (f": {message}" if message else ""))
        return value or ""
