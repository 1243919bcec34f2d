"""Errors of the volumes package.

Hierarchy (subclasses of engine.errors; mapped to HTTP statuses only in engine/api):

    VolumeError (EngineError)   base of everything this package raises on purpose
    InvalidVolumeName           a name outside [a-zA-Z0-9][a-zA-Z0-9_.-]+            -> 400
    InvalidVolumeOption         a local driver option Docker's local driver refuses -> 400
    InvalidMountConfig          a bad Binds / Mounts / Tmpfs / image Volumes entry,
                                a missing --mount bind source, a duplicate target   -> 400
    InvalidFilter               an unknown filter or a bad filter value             -> 400
    VolumeNotFound              no volume has that name                             -> 404
    DriverNotFound              a volume driver other than "local"                  -> 404
    VolumeConflict              the name is taken by a volume of another driver     -> 409
      VolumeInUse               remove refused: containers reference the volume     -> 409
    VolumeSystemError           mount, unmount, copy or the filesystem failed       -> 500
"""

from __future__ import annotations

from shoal.engine.errors import Conflict, EngineError, InvalidArgument, NotFound, SystemFailure


class VolumeError(EngineError):
    """Base class of the volumes package's errors."""


class InvalidVolumeName(VolumeError, InvalidArgument):
    """The volume name has characters Docker's local driver refuses."""


class InvalidVolumeOption(VolumeError, InvalidArgument):
    """A local driver option (type, device, o) is unknown or incomplete."""


class InvalidMountConfig(VolumeError, InvalidArgument):
    """A mount request is malformed; the message names the field and the value."""


class InvalidFilter(VolumeError, InvalidArgument):
    """A list or prune filter is unknown or has a bad value."""


class VolumeNotFound(VolumeError, NotFound):
    """No volume has that name."""


class DriverNotFound(VolumeError, NotFound):
    """The volume driver is not "local" (volume plugins are not supported)."""


class VolumeConflict(VolumeError, Conflict):
    """The request conflicts with an existing volume."""


class VolumeInUse(VolumeConflict):
    """The volume is referenced by containers; their ids are in .containers and the message."""

    def __init__(self, name: str, containers: list[str]) -> None:
        self.name = name
        self.containers = list(containers)
        super().__init__(f"remove {name}: volume is in use - [{', '.join(self.containers)}]")


class VolumeSystemError(VolumeError, SystemFailure):
    """The host refused an operation on a volume (mount, unmount, copy, remove)."""
