"""Atomic JSON files: the network package's only way of persisting state."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def write(path: Path, data: Any) -> None:
    """Write DATA to PATH atomically (temp file, fsync-free rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read(path: Path, default: Any = None) -> Any:
    """Return the JSON in PATH, or DEFAULT when it is missing."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def remove(path: Path) -> None:
    """Delete PATH; a missing file is fine."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
