"""Choosing among the manifests of an image index (multi-platform images)."""

from __future__ import annotations

from typing import Any

from shoal.engine.images import manifest
from shoal.engine.images.errors import InvalidArchive


def pick_platform(index: Any, platform: tuple[str, str], what: str) -> tuple[str, str, int]:
    """Return the descriptor (mediaType, digest, size) of INDEX's manifest for PLATFORM.

    PLATFORM is (os, architecture). An entry without a platform matches anything;
    attestation manifests (platform unknown/unknown) never do.
    """
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InvalidArchive(f"{what}: image index lists no manifests")
    fallback = None
    for e in entries:
        p = e.get("platform") if isinstance(e, dict) else None
        if not isinstance(p, dict):
            fallback = fallback or e
            continue
        if (p.get("os"), p.get("architecture")) == platform:
            return manifest.descriptor(e, what)
    if fallback is None:
        os_name, arch = platform
        raise InvalidArchive(f"{what}: image index has no manifest for {os_name}/{arch}")
    return manifest.descriptor(fallback, what)
