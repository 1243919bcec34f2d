"""mount(2) and umount2(2) through ctypes, and /proc/self/mountinfo queries.

The overlay options string is limited to one page; when it is longer, the mount
is made by a short-lived child process whose working directory is the
snapshotter root, so that every layer can be named by a short relative path.
"""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import sys

from shoal.engine.snapshots.errors import MountFailed

MNT_DETACH = 2
PAGE = os.sysconf("SC_PAGE_SIZE")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

# Run by the child that mounts with relative paths: argv = cwd, target, options.
_CHILD = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1])
if libc.mount(b"overlay", sys.argv[2].encode(), b"overlay", 0, sys.argv[3].encode()) != 0:
    e = ctypes.get_errno()
    sys.exit(f"{os.strerror(e)} (errno {e})")
"""


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    """Call mount(2); raise MountFailed with the errno's text."""
    rc = _libc.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode())
    if rc != 0:
        e = ctypes.get_errno()
        raise MountFailed(f"mount {fstype} on {target}: {os.strerror(e)} (options {data!r})")


def mount_overlay(target: str, options: str, cwd: str | None = None) -> None:
    """Mount an overlay on TARGET; with CWD, paths in OPTIONS are relative to it."""
    if cwd is None:
        if len(options) + 1 > PAGE:
            raise MountFailed(f"mount overlay on {target}: options longer than {PAGE} bytes")
        mount("overlay", target, "overlay", 0, options)
        return
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, cwd, target, options],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise MountFailed(f"mount overlay on {target}: {proc.stderr.strip()}")


def umount(target: str, flags: int = 0) -> bool:
    """Call umount2(2); return False if TARGET was not mounted, raise MountFailed otherwise."""
    if _libc.umount2(target.encode(), flags) == 0:
        return True
    e = ctypes.get_errno()
    if e in (errno.EINVAL, errno.ENOENT):
        return False
    raise MountFailed(f"unmount {target}: {os.strerror(e)}")


def _unescape(field: str) -> str:
    """Decode mountinfo's octal escapes (\\040 for a space, ...)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points() -> list[str]:
    """Return the mount points of this process's mount namespace."""
    with open("/proc/self/mountinfo") as f:
        return [_unescape(line.split()[4]) for line in f if line.strip()]


def is_mounted(path: str) -> bool:
    """Tell whether PATH is a mount point."""
    return os.path.realpath(path) in set(mount_points())
