"""Docker's local volume driver on the host: options, mounting them, sizes, removal.

Without options a volume is a plain directory. With `type`, `device` and `o`
(`docker volume create --opt type=tmpfs --opt device=tmpfs --opt o=size=64m`,
or `type=none,o=bind,device=/srv/x`, or nfs) the filesystem is mounted on the
data dir by mount(8) while a container uses the volume, as Docker does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

from shoal.engine.snapshots import mounts
from shoal.engine.snapshots.errors import MountFailed
from shoal.engine.volumes.errors import InvalidVolumeOption, VolumeSystemError

VALID_OPTIONS = ("type", "device", "o", "size")
# An option needs these others (moby volume/local/local_unix.go).
_REQUIRES = {"device": ("type",), "type": ("device",), "o": ("device",)}


def validate_options(options: dict[str, str]) -> dict[str, str]:
    """Check the local driver's options; return them as a dict of strings."""
    out: dict[str, str] = {}
    for key, value in options.items():
        if key not in VALID_OPTIONS:
            raise InvalidVolumeOption(f"invalid option: {key!r}")
        if not isinstance(value, str):
            raise InvalidVolumeOption(f"option {key!r} must be a string, not {value!r}")
        out[key] = value
    if "size" in out:
        raise InvalidVolumeOption("quota size requested but no quota support")
    for key, needed in _REQUIRES.items():
        for other in needed:
            if key in out and other not in out:
                raise InvalidVolumeOption(f"missing required option: {other!r}")
    return out


def is_mounted(path: str) -> bool:
    """Tell whether PATH is a mount point (a bind of the same fs too, unlike os.path.ismount)."""
    return mounts.is_mounted(path)


def mounts_below(path: str) -> list[str]:
    """Return the mount points at or below PATH."""
    real = os.path.realpath(path)
    return [m for m in mounts.mount_points() if m == real or m.startswith(real + "/")]


def mount(options: dict[str, str], target: str) -> None:
    """Mount the filesystem the options describe on TARGET with mount(8)."""
    cmd = ["mount", "-t", options.get("type") or "none"]
    if options.get("o"):
        cmd += ["-o", options["o"]]
    cmd += ["--", options["device"], target]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VolumeSystemError(f"mount {options['device']} on {target}: {exc}") from exc
    if proc.returncode != 0:
        reason = (proc.stderr or proc.stdout).strip()
        raise VolumeSystemError(f"error while mounting volume '{target}': {reason}")


def unmount(target: str) -> None:
    """Unmount every mount stacked on TARGET (lazily if busy)."""
    for _ in range(8):
        if not is_mounted(target):
            return
        try:
            mounts.umount(target)
        except MountFailed:
            try:
                mounts.umount(target, mounts.MNT_DETACH)
            except MountFailed as exc:
                raise VolumeSystemError(f"unmount volume {target}: {exc}") from exc
    if is_mounted(target):
        raise VolumeSystemError(f"unmount volume {target}: still mounted")


def remove_tree(path: Path) -> None:
    """Delete PATH recursively, refusing to descend into anything still mounted below it."""
    left = mounts_below(str(path))
    if left:
        raise VolumeSystemError(f"remove {path}: still mounted: {', '.join(left)}")
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


def tree_size(path: str) -> int:
    """Return the bytes of the regular files below PATH (hard links once), this fs only."""
    try:
        dev = os.lstat(path).st_dev
    except OSError:
        return 0
    seen: set[int] = set()
    total = 0
    stack = [path]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                if st.st_dev == dev:
                    stack.append(e.path)
            elif stat.S_ISREG(st.st_mode) and st.st_ino not in seen:
                if st.st_nlink > 1:
                    seen.add(st.st_ino)
                total += st.st_size
    return total
