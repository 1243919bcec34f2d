"""Errors of the Compose loader.

    ComposeError     an invalid file: ``FILE:LINE: key.path: what is wrong``
                     (a CLIError, so `shoal stack deploy` prints it and exits 1)

Interpolation and value parsers raise ValueError with the bare reason; the
loader adds the file, line and key path.
"""

from __future__ import annotations

from ..errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

Path = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """Return ``services.web.ports[1]`` for ("services", "web", "ports", 1)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


class ComposeError(CLIError):
    """Report an invalid Compose file, naming the file, the line and the key path."""

    def __init__(self, message: str, filename: str = "", line: int = 0,
                 path: Sequence[str | int] = ()) -> None:
        self.filename, self.line, self.path = filename, line, tuple(path)
        self.reason = message
        where = filename
        if filename and line:
            where += f":{line}"
        text = message
        if path:
            text = f"{format_path(path)}: {text}"
        super().__init__(f"{where}: {text}" if where else text)
