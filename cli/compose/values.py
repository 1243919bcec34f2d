"""Check and convert single Compose values, each error located at its key path.

A Checker belongs to one file: it knows the file's marks (for line numbers),
its directory (for relative paths) and gathers the names of keys that shoal
recognises but does not support (for the one "Ignoring unsupported options"
warning).
"""

from __future__ import annotations

import os
import shlex

from ..durations import parse_duration
from ..opts import parse_cpus, parse_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping
    from typing import Any

    from .errors import ComposeError, Path
    from .marks import Marks

    Handler = Callable[["Checker", Any, Path], Any]


def show(value: Any) -> str:
    """Return a value as the user wrote it, for messages: 'three', 3, true, null."""
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


class Checker:
    """Validate one file's values; collect its unsupported keys."""

    def __init__(self, marks: Marks, base_dir: str = ".") -> None:
        self.marks = marks
        self.base_dir = base_dir
        self.unsupported: set[str] = set()

    def fail(self, path: Path, message: str, at: Path | None = None) -> ComposeError:
        """Return the error for path (located at ``at`` when given)."""
        err = self.marks.error(at if at is not None else path, message)
        if at is not None:
            from .errors import ComposeError

            err = ComposeError(message, err.filename, err.line, path)
        return err

    # -- scalars ----------------------------------------------------------------
    def string(self, value: Any, path: Path) -> str:
        """Return a string (numbers are taken as their text, as Compose does)."""
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise self.fail(path, f"must be a string, not {show(value)}")

    def text(self, value: Any, path: Path) -> str:
        """Return any scalar as text (booleans as true/false): environment and label values."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return ""
        return self.string(value, path)

    def integer(self, value: Any, path: Path, minimum: int = 0) -> int:
        """Return an integer >= minimum (a string of digits, as after interpolation, too)."""
        n: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            n = value
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            n = int(value.strip())
        if n is None:
            raise self.fail(path, f"must be an integer, not {show(value)}")
        if n < minimum:
            raise self.fail(path, f"must be at least {minimum}, not {n}")
        return n

    def number(self, value: Any, path: Path) -> float:
        """Return a number (a ratio such as max_failure_ratio)."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise self.fail(path, f"must be a number, not {show(value)}")

    def boolean(self, value: Any, path: Path) -> bool:
        """Return a boolean (``"true"``/``"false"`` strings from interpolation too)."""
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.fail(path, f"must be a boolean, not {show(value)}")

    def duration(self, value: Any, path: Path) -> int:
        """Return nanoseconds of a Go duration string ("10s", "1m30s")."""
        if not isinstance(value, str):
            raise self.fail(path, f'must be a duration string like "10s", not {show(value)}')
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(path, str(exc)) from None

    def memory(self, value: Any, path: Path) -> int:
        """Return bytes of a size such as ``64m``, ``1.5g`` or a plain number of bytes."""
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str) and value:
            try:
                return parse_size(value)
            except ValueError as exc:
                raise self.fail(path, str(exc)) from None
        raise self.fail(path, f"must be a size like \"64m\", not {show(value)}")

    def cpus(self, value: Any, path: Path) -> int:
        """Return NanoCPUs of ``0.5`` or ``"1.5"``."""
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                return parse_cpus(str(value))
            except ValueError as exc:
                raise self.fail(path, str(exc)) from None
        raise self.fail(path, f"must be a number of CPUs like 0.5, not {show(value)}")

    def choice(self, value: Any, path: Path, allowed: Collection[str]) -> str:
        """Return one of the allowed strings."""
        s = self.string(value, path)
        if s not in allowed:
            raise self.fail(path, f"must be one of {', '.join(allowed)}, not {show(value)}")
        return s

    # -- collections ----------------------------------------------------------
    def mapping(self, value: Any, path: Path) -> dict[str, Any]:
        """Return a mapping (null is an empty one)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a mapping, not {show(value)}")
        return value

    def strings(self, value: Any, path: Path) -> list[str]:
        """Return a list of strings (one string is a list of one)."""
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            raise self.fail(path, f"must be a list of strings, not {show(value)}")
        return [self.string(v, (*path, i)) for i, v in enumerate(value)]

    def command(self, value: Any, path: Path) -> list[str]:
        """Return a command: a string is split like a shell would, a list is kept."""
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise self.fail(path, f"cannot split {show(value)}: {exc}") from None
        if not isinstance(value, list):
            raise self.fail(path, f"must be a string or a list of strings, not {show(value)}")
        return [self.text(v, (*path, i)) for i, v in enumerate(value)]

    def dict_or_list(self, value: Any, path: Path, missing: str | None) -> dict[str, str | None]:
        """Return ``{key: value}`` from a mapping or a ``KEY=VALUE`` list.

        A list item without ``=`` (or a null mapping value) gets ``missing``
        (None for environment variables: taken from the environment later).
        """
        out: dict[str, str | None] = {}
        if isinstance(value, dict):
            for key, v in value.items():
                out[key] = missing if v is None else self.text(v, (*path, key))
            return out
        if not isinstance(value, list):
            raise self.fail(path, f"must be a mapping or a list of KEY=VALUE, not {show(value)}")
        for i, item in enumerate(value):
            text = self.string(item, (*path, i))
            key, eq, v = text.partition("=")
            if not key:
                raise self.fail((*path, i), f"{show(text)} has no name before '='")
            out[key] = v if eq else missing
            self.marks.alias((*path, key), (*path, i))
        return out

    def fields(self, value: Any, path: Path, handlers: Mapping[str, Handler],
               unsupported: Collection[str] = (), prefix: str = "") -> dict[str, Any]:
        """Check a mapping key by key: handled keys are converted, known-unsupported ones
        noted (as prefix + key), x- extensions skipped, anything else refused."""
        out: dict[str, Any] = {}
        for key, v in self.mapping(value, path).items():
            at = (*path, key)
            handler = handlers.get(key)
            if key.startswith("x-"):
                continue
            if handler is not None:
                if v is not None:
                    out[key] = handler(self, v, at)
            elif key in unsupported:
                self.unsupported.add(prefix + key)
            else:
                raise self.fail(path, f"additional property {key!r} is not allowed", at=at)
        return out

    def path_of(self, value: str) -> str:
        """Return a host path made absolute against the file's directory (``~`` expanded)."""
        value = os.path.expanduser(value)
        return os.path.normpath(os.path.join(self.base_dir, value))
