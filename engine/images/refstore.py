"""The reference store: which image each tag or digest reference names.

Persisted as root/repositories.json ({"refs": {"docker.io/library/busybox:latest":
"sha256:<id>", ...}}), rewritten atomically (temp file + rename) on every change.
Not thread-safe by itself: the ImageService serialises calls with its lock.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from shoal.engine.images import reference as refs
from shoal.engine.images.reference import Reference


def write_json_atomic(path: Path, value: object) -> None:
    """Write VALUE as JSON to PATH through a temp file renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(value, f, indent=1, sort_keys=True)
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class ReferenceStore:
    """Map normalised references (tags and digests) to image ids."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._refs: dict[str, str] = {}
        if self.path.exists():
            data = json.loads(self.path.read_text() or "{}")
            self._refs = dict(data.get("refs", {}))

    def _save(self) -> None:
        write_json_atomic(self.path, {"refs": self._refs})

    def get(self, ref: Reference) -> str | None:
        """Return the image id REF names, or None."""
        return self._refs.get(str(ref))

    def set(self, ref: Reference, image_id: str) -> str | None:
        """Point REF at IMAGE_ID; return the id it named before (or None)."""
        old = self._refs.get(str(ref))
        if old != image_id:
            self._refs[str(ref)] = image_id
            self._save()
        return old

    def delete(self, ref: Reference) -> bool:
        if self._refs.pop(str(ref), None) is None:
            return False
        self._save()
        return True

    def of_image(self, image_id: str) -> list[Reference]:
        """Return every reference naming IMAGE_ID, sorted."""
        return sorted(
            (refs.parse(r, default_tag=False) for r, i in self._refs.items() if i == image_id),
            key=str,
        )

    def tags_of(self, image_id: str) -> list[str]:
        """Return the image's tags as Docker displays them (busybox:latest)."""
        return [r.familiar() for r in self.of_image(image_id) if r.tag is not None]

    def digests_of(self, image_id: str) -> list[str]:
        """Return the image's digest references as Docker displays them (busybox@sha256:...)."""
        return [r.familiar() for r in self.of_image(image_id) if r.digest is not None]

    def items(self) -> list[tuple[Reference, str]]:
        return [(refs.parse(r, default_tag=False), i) for r, i in sorted(self._refs.items())]

    def delete_image(self, image_id: str) -> list[Reference]:
        """Drop every reference to IMAGE_ID; return them."""
        gone = self.of_image(image_id)
        if gone:
            for r in gone:
                del self._refs[str(r)]
            self._save()
        return gone
