"""Which repositories hold each blob, for cross-repository mounts on push.

A pull or a push of HOST/PATH records HOST/PATH for every blob it moved; a
later push to another repository of HOST asks the registry to mount the blob
from there instead of uploading it. Kept in <images root>/registry-sources.json
(atomically rewritten), newest source first, a few per blob.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from shoal.engine.images.registry.endpoint import split_host

KEEP = 5


class SourceStore:
    """Remember the repositories (host/path) a blob was pulled from or pushed to."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data: dict[str, list[str]] = {}
        try:
            loaded = json.loads(self.path.read_text())
            if isinstance(loaded, dict):
                self._data = {k: [str(r) for r in v] for k, v in loaded.items()
                              if isinstance(v, list)}
        except (OSError, ValueError):
            self._data = {}

    def add(self, digests: Iterable[str], repo: str) -> None:
        """Record REPO ("host:port/path") as a source of each blob in DIGESTS."""
        with self._lock:
            for d in digests:
                repos = [r for r in self._data.get(d, []) if r != repo]
                self._data[d] = [repo, *repos][:KEEP]
            self._save()

    def mount_from(self, digest: str, host: str, exclude: str) -> str | None:
        """Return a path of HOST (other than EXCLUDE) known to hold DIGEST, or None."""
        with self._lock:
            repos = list(self._data.get(digest, []))
        for r in repos:
            h, _, path = r.partition("/")
            if h == host and path and path != exclude and split_host(h)[0]:
                return path
        return None

    def forget(self, digests: Iterable[str]) -> None:
        with self._lock:
            for d in digests:
                self._data.pop(d, None)
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sources-")
        with os.fdopen(fd, "w") as f:
            json.dump(self._data, f)
        os.replace(tmp, self.path)
