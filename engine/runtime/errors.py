"""Errors of the runtime (namespaces, cgroups, shims).

InvalidArgument
  ExecNotFound        the executable does not exist (exit code 127)
  ExecPermission      the executable cannot be run (exit code 126)
  UserNotFound        no such user or group in the rootfs
NotFound
  NoSuchProcess       no state for this container / exec id
Conflict
  AlreadyExists       a container or exec with this id exists
  StillRunning        delete without force of a live process
  NotRunning          (engine.errors) signal, exec or attach on an exited process
SystemFailure
  StartFailed         the shim could not set the container up
  ShimUnavailable     the shim does not answer
  CgroupError         the cgroup filesystem refused
"""

from __future__ import annotations

from ..errors import Conflict, InvalidArgument, NotFound, NotRunning, SystemFailure


class ExecNotFound(InvalidArgument):
    """The process's executable was not found (Docker exit code 127)."""

    exit_code = 127


class ExecPermission(InvalidArgument):
    """The process's executable cannot be executed (Docker exit code 126)."""

    exit_code = 126


class UserNotFound(InvalidArgument):
    """The user or group named in the config is not in the rootfs."""


class NoSuchProcess(NotFound):
    """No container or exec with this id has state on disk."""


class AlreadyExists(Conflict):
    """A container or exec with this id already exists."""


class StillRunning(Conflict):
    """The process is still running (delete it with force)."""


class StartFailed(SystemFailure):
    """The shim could not create the container (namespaces, mounts, cgroup...)."""

    exit_code = 128


class ShimUnavailable(SystemFailure):
    """The shim of a live process does not answer on its socket."""


class CgroupError(SystemFailure):
    """A cgroup could not be created, configured or removed."""


__all__ = [
    "AlreadyExists",
    "CgroupError",
    "ExecNotFound",
    "ExecPermission",
    "NoSuchProcess",
    "NotRunning",
    "ShimUnavailable",
    "StartFailed",
    "StillRunning",
    "UserNotFound",
]
