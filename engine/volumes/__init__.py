"""Docker-compatible volumes: the local driver's store, and mount resolution for containers."""

from shoal.engine.volumes.model import ANONYMOUS_LABEL, Volume
from shoal.engine.volumes.resolve import (
    ResolvedMounts,
    release_mounts,
    resolve_mounts,
    sort_mounts,
    start_mounts,
    stop_mounts,
)
from shoal.engine.volumes.service import VolumeService

__all__ = [
    "ANONYMOUS_LABEL",
    "ResolvedMounts",
    "Volume",
    "VolumeService",
    "release_mounts",
    "resolve_mounts",
    "sort_mounts",
    "start_mounts",
    "stop_mounts",
]
