"""`image prune` and `builder prune`: drop unused images, build cache and unpacked layers.

Both remove image records (and the blobs no other image needs) through
ImageService.prune, then the unpacked layers that no remaining image and no
snapshot uses, and count the bytes freed (blobs plus unpacked files).
"""

from __future__ import annotations

import json
from typing import Any

from shoal.engine.images.build.cache import BuildCache


def _layer_sizes(snapshots: Any) -> dict[str, int]:
    out = {}
    for chain_id in snapshots.layers():
        try:
            meta = json.loads((snapshots.layer_dir(chain_id) / "meta.json").read_text())
            out[chain_id] = int(meta.get("size") or 0)
        except (OSError, ValueError):
            out[chain_id] = 0
    return out


def _prune_layers(images: Any, snapshots: Any) -> int:
    keep = {c for img in images.list() for c in img.chain_ids()}
    sizes = _layer_sizes(snapshots)
    return sum(sizes.get(c, 0) for c in snapshots.prune_layers(keep))


def prune_images(images: Any, snapshots: Any, in_use: Any, all: bool = False) -> dict[str, Any]:
    """Remove dangling images (ALL: every image no container uses); Docker's answer."""
    deleted, freed = images.prune(all=all, in_use=in_use)
    freed += _prune_layers(images, snapshots)
    return {"ImagesDeleted": deleted or None, "SpaceReclaimed": freed}


def prune_build(images: Any, snapshots: Any, cache: BuildCache, in_use: Any) -> dict[str, Any]:
    """Empty the build cache and remove the build's images no tagged image descends from."""
    keys = cache.prune()
    deleted, freed = images.prune(in_use=in_use, built_only=True)
    freed += _prune_layers(images, snapshots)
    gone = [d["Deleted"] for d in deleted if "Deleted" in d]
    return {"CachesDeleted": keys + gone, "SpaceReclaimed": freed}
