"""Where each key of a loaded Compose file was written: key path -> (file, line).

The loader records the line of every mapping key and sequence item. An error
about a path names the closest recorded one (the path itself or its nearest
parent), so values produced by merging or normalising still point at the
text they came from.
"""

from __future__ import annotations

from .errors import ComposeError, Path


class Marks:
    """Map key paths to (file, line); later files' marks replace earlier ones."""

    def __init__(self, filename: str = "", lines: dict[Path, int] | None = None) -> None:
        self.table: dict[Path, tuple[str, int]] = {}
        if lines:
            self.add(filename, lines)

    def add(self, filename: str, lines: dict[Path, int]) -> None:
        """Record the lines of one file."""
        for path, line in lines.items():
            self.table[path] = (filename, line)

    def update(self, other: Marks) -> None:
        """Take over another table's marks (a later file's)."""
        self.table.update(other.table)

    def alias(self, new: Path, old: Path) -> None:
        """Make new point where old (or its closest parent) points."""
        hit = self.locate(old)
        if hit is not None:
            self.table[new] = hit

    def locate(self, path: Path) -> tuple[str, int] | None:
        """Return (file, line) of path or of its closest recorded parent."""
        for i in range(len(path), -1, -1):
            hit = self.table.get(path[:i])
            if hit is not None:
                return hit
        return None

    def error(self, path: Path, message: str) -> ComposeError:
        """Return a ComposeError located at path."""
        hit = self.locate(path)
        filename, line = hit if hit is not None else ("", 0)
        return ComposeError(message, filename, line, path)
