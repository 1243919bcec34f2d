"""Progress messages in the shape of Docker's JSON stream (pull and push).

    {"status": "Pulling fs layer", "progressDetail": {}, "id": "a3ed95caeb02"}
    {"status": "Downloading", "progressDetail": {"current": 1024, "total": 4096},
     "progress": "[===>      ]  1.02kB/4.096kB", "id": "a3ed95caeb02"}

Byte counts are rendered as Docker's go-units HumanSize (decimal, 4 significant
digits); "Downloading"/"Pushing" updates are sent at most every 100 ms per layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shoal.engine.images import digest as dg

Message = dict[str, Any]
Emit = Callable[[Message], None]
BAR_WIDTH = 50
INTERVAL = 0.1
_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def human_size(n: float) -> str:
    """Return N bytes as Docker shows them: "1.024kB", "52.43MB"."""
    i = 0
    while n >= 1000 and i < len(_UNITS) - 1:
        n /= 1000
        i += 1
    return f"{n:.4g}{_UNITS[i]}"


def bar(current: int, total: int) -> str:
    """Return Docker's progress text: "[=====>    ]  1.5MB/3MB" (no bar if TOTAL is unknown)."""
    if total <= 0:
        return human_size(current)
    done = min(BAR_WIDTH, BAR_WIDTH * current // total)
    arrow = ">" if done < BAR_WIDTH else ""
    fill = "=" * max(done - (1 if arrow else 0), 0) + arrow
    return f"[{fill.ljust(BAR_WIDTH)}] {human_size(current):>8}/{human_size(total)}"


def status(text: str, ident: str = "") -> Message:
    m: Message = {"status": text}
    if ident:
        m["id"] = ident
    return m


def layer_status(text: str, digest: str) -> Message:
    return {"status": text, "progressDetail": {}, "id": dg.short(digest)}


def error(text: str) -> Message:
    return {"errorDetail": {"message": text}, "error": text}


class LayerProgress:
    """Emit throttled "Downloading"/"Pushing" updates for one blob."""

    def __init__(self, emit: Emit, action: str, digest: str, total: int) -> None:
        self.emit = emit
        self.action = action
        self.ident = dg.short(digest)
        self.total = total
        self._last = 0.0

    def update(self, current: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < INTERVAL:
            return
        self._last = now
        self.emit({
            "status": self.action,
            "progressDetail": {"current": current, "total": self.total},
            "progress": bar(current, self.total),
            "id": self.ident,
        })
