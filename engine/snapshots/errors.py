"""Errors of the snapshotter (subclasses of shoal.engine.errors).

InvalidLayer(InvalidArgument)   a layer tar cannot be unpacked (not a tar, bad entry)
  UnsafeLayer                   an entry would write outside the rootfs (.., symlinks, links)
SnapshotNotFound(NotFound)      no snapshot has that key
SnapshotExists(Conflict)        prepare() of a key that already exists
MountFailed(SystemFailure)      the kernel refused a mount or unmount
"""

from shoal.engine.errors import Conflict, InvalidArgument, NotFound, SystemFailure


class InvalidLayer(InvalidArgument):
    """A layer tar cannot be unpacked (not a tar, an entry of a bad type or shape)."""


class UnsafeLayer(InvalidLayer):
    """A layer entry would write outside the rootfs: `..`, a symlinked parent, a hard link."""


class SnapshotNotFound(NotFound):
    """No snapshot has that key."""


class SnapshotExists(Conflict):
    """A snapshot with that key already exists."""


class MountFailed(SystemFailure):
    """The kernel refused a mount or an unmount."""
