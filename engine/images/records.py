"""Image records on disk: root/images/<id hex>.json, one per image.

A record holds what the config blob does not: the manifest digest, each layer's
blob digest, media type and sizes, and the last time the image was tagged.
Not thread-safe by itself: the ImageService serialises calls with its lock.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoal.engine.images import digest as dg
from shoal.engine.images.blobs import BlobStore
from shoal.engine.images.errors import BlobNotFound
from shoal.engine.images.model import Layer
from shoal.engine.images.refstore import write_json_atomic

log = logging.getLogger(__name__)


@dataclass
class Record:
    """What the service keeps in memory per image (the config is parsed once)."""

    id: str
    config: dict[str, Any]
    layers: list[Layer]
    manifest: str
    last_tag_time: str = ""
    # -- build: the image a build step started from (Docker's "Parent"), "" if none --
    parent: str = ""

    def to_json(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "manifest": self.manifest,
            "layers": [layer.to_dict() for layer in self.layers],
            "last_tag_time": self.last_tag_time,
        }
        if self.parent:  # -- build --
            out["parent"] = self.parent
        return out

    def blobs(self) -> list[str]:
        """Return the digests of the blobs the image needs: config, manifest, layers."""
        return [self.id, self.manifest, *(layer.digest for layer in self.layers)]


class RecordStore:
    """Load, write and delete image records under DIR."""

    def __init__(self, dir: Path, blobs: BlobStore) -> None:
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.blobs = blobs

    def load_all(self) -> dict[str, Record]:
        """Read every record; skip (and log) one whose files are damaged or missing."""
        out: dict[str, Record] = {}
        for p in sorted(self.dir.glob("*.json")):
            try:
                d = json.loads(p.read_text())
                config = json.loads(self.blobs.read(d["id"]))
                layers = [Layer.from_dict(x) for x in d["layers"]]
                out[d["id"]] = Record(
                    d["id"], config, layers, d["manifest"], d.get("last_tag_time", ""),
                    d.get("parent", ""),  # -- build --
                )
            except (OSError, ValueError, KeyError, TypeError, BlobNotFound) as exc:
                log.error("image record %s is damaged, skipping it: %s", p, exc)
        return out

    def write(self, rec: Record) -> None:
        write_json_atomic(self.dir / f"{dg.hex_of(rec.id)}.json", rec.to_json())

    def delete(self, image_id: str) -> None:
        (self.dir / f"{dg.hex_of(image_id)}.json").unlink(missing_ok=True)
