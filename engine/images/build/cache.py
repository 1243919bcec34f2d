"""The build cache: which image a build step made from a given parent and instruction.

A key is sha256 over the parent image id and the step's description (the
instruction after expansion, the build args a RUN sees, the source checksum
and --chown of a COPY/ADD). The parent's id already covers its whole config
(env, user, workdir, shell) and, through its own parent, every earlier step.
The table is one JSON file, `<images root>/build-cache.json`, rewritten
atomically; an entry whose image is gone is ignored (and dropped on write).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shoal.engine.images.refstore import write_json_atomic

log = logging.getLogger(__name__)


def cache_key(parent: str, step: dict[str, Any]) -> str:
    """Return the cache key of STEP (a JSON-able description) made on the image PARENT."""
    blob = json.dumps({"parent": parent, "step": step}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


class BuildCache:
    """Map cache keys to image ids, persisted under PATH (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: dict[str, str] = self._load()

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("build cache %s is damaged, starting afresh: %s", self.path, exc)
            return {}
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            return {}
        return {str(k): str(v) for k, v in entries.items()}

    def _save(self) -> None:
        write_json_atomic(self.path, {"entries": self._entries})

    def get(self, key: str, exists: Callable[[str], bool]) -> str | None:
        """Return the image id cached for KEY if EXISTS(image id) still holds."""
        with self._lock:
            image_id = self._entries.get(key)
        if image_id is None or not exists(image_id):
            return None
        return image_id

    def put(self, key: str, image_id: str, exists: Callable[[str], bool] | None = None) -> None:
        """Remember that KEY made IMAGE_ID; drop entries whose image EXISTS says is gone."""
        with self._lock:
            self._entries[key] = image_id
            if exists is not None:
                self._entries = {k: v for k, v in self._entries.items() if exists(v)}
            self._save()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def prune(self) -> list[str]:
        """Forget every entry; return the keys forgotten."""
        with self._lock:
            keys = sorted(self._entries)
            self._entries = {}
            self._save()
        return keys
