"""OCI manifests and indexes: build them and read the parts the image service needs."""

from __future__ import annotations

import json
from typing import Any

from shoal.engine.images import digest as dg
from shoal.engine.images.errors import InvalidArchive
from shoal.engine.images.model import (
    ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Layer,
)
from shoal.engine.images.reference import Reference

LAYOUT_VERSION = "1.0.0"


def to_json(value: Any) -> bytes:
    """Serialise VALUE compactly (the bytes whose digest names the blob)."""
    return json.dumps(value, separators=(",", ":")).encode()


def build_manifest(config_digest: str, config_size: int, layers: list[Layer]) -> bytes:
    """Return an OCI image manifest for a config and layers (as stored)."""
    return to_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
            "layers": [layer.descriptor() for layer in layers],
        }
    )


def index_entry(manifest: bytes, ref: Reference | None) -> dict[str, Any]:
    """Return an index.json descriptor of MANIFEST, annotated with REF's name and tag."""
    entry: dict[str, Any] = {
        "mediaType": OCI_MANIFEST,
        "digest": dg.of_bytes(manifest),
        "size": len(manifest),
    }
    if ref is not None:
        entry["annotations"] = {ANNOTATION_IMAGE_NAME: str(ref)}
        if ref.tag is not None:
            entry["annotations"][ANNOTATION_REF_NAME] = ref.tag
    return entry


def build_index(entries: list[dict[str, Any]]) -> bytes:
    return to_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})


def layout_file() -> bytes:
    return to_json({"imageLayoutVersion": LAYOUT_VERSION})


def loads(data: bytes, what: str) -> Any:
    """Parse JSON DATA; raise InvalidArchive naming WHAT when it is not JSON."""
    try:
        return json.loads(data)
    except ValueError as exc:
        raise InvalidArchive(f"{what}: not valid JSON ({exc})") from None


def descriptor(d: Any, what: str) -> tuple[str, str, int]:
    """Return (mediaType, digest, size) of a descriptor; raise InvalidArchive if malformed."""
    if not isinstance(d, dict):
        raise InvalidArchive(f"{what}: descriptor is not an object")
    digest = d.get("digest")
    if not isinstance(digest, str) or not dg.is_digest(digest):
        raise InvalidArchive(f"{what}: bad or unsupported digest {digest!r}")
    size = d.get("size")
    if not isinstance(size, int) or size < 0:
        raise InvalidArchive(f"{what}: descriptor of {digest} has a bad size {size!r}")
    return str(d.get("mediaType") or ""), digest, size


def kind_of(doc: dict[str, Any], media_type: str) -> str:
    """Return "index" or "manifest" for an OCI/Docker document (by media type or shape)."""
    mt = media_type or str(doc.get("mediaType") or "")
    if mt in INDEX_TYPES or (not mt and "manifests" in doc):
        return "index"
    if mt in MANIFEST_TYPES or (not mt and "layers" in doc and "config" in doc):
        return "manifest"
    raise InvalidArchive(f"unsupported manifest media type {mt!r}")


def diff_ids(config: Any, what: str) -> list[str]:
    """Return the rootfs.diff_ids of an image config; raise InvalidArchive if malformed."""
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) and dg.is_digest(i) for i in ids):
        raise InvalidArchive(f"{what}: image config has no valid rootfs.diff_ids")
    return list(ids)
