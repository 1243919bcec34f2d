"""Snapshots: image layers unpacked by chain id and overlay mounts of container rootfs."""

from shoal.engine.snapshots.overlay import Snapshotter
from shoal.engine.snapshots.unpack import unpack, unpack_layer

__all__ = ["Snapshotter", "unpack", "unpack_layer"]
