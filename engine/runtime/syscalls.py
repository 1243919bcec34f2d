"""Wrap the Linux calls that Python 3.11's stdlib lacks: namespaces, mounts, prctl, capset.

Stdlib only and import-light: the shim (``python -S``) loads this module as a
sibling script module, and the daemon imports it as
``shoal.engine.runtime.syscalls``. Every wrapper raises ``OSError`` with the
errno and the name of the call, like the functions of ``os``.
"""

from __future__ import annotations

import _ctypes
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000

MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# pivot_root has no glibc wrapper; its number depends on the architecture.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}


# ctypes' own __init__ costs ~3 ms at import; the shim needs six C functions, so
# it builds them from _ctypes directly (0.6 ms).
class _Int(_ctypes._SimpleCData):
    _type_ = "i"


class _Long(_ctypes._SimpleCData):
    _type_ = "l"


class _ULong(_ctypes._SimpleCData):
    _type_ = "L"


class _Str(_ctypes._SimpleCData):
    _type_ = "z"


class _Char(_ctypes._SimpleCData):
    _type_ = "c"


class _CapData(_ctypes.Array):
    _type_ = _Char
    _length_ = 24


class _Func(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = _Int


class _Libc:
    _handle = _ctypes.dlopen(None, os.RTLD_NOW)  # type: ignore[arg-type]


def _fn(name: str, *argtypes: type) -> Any:
    f = _Func((name, _Libc))  # type: ignore[arg-type]
    if argtypes:
        f.argtypes = argtypes
    return f


_unshare = _fn("unshare", _Int)
_setns = _fn("setns", _Int, _Int)
_mount = _fn("mount", _Str, _Str, _Str, _ULong, _Str)
_umount2 = _fn("umount2", _Str, _Int)
_prctl = _fn("prctl", _Int, _ULong, _ULong, _ULong, _ULong)
_capset = _fn("capset", _Str, _Str)
_capget = _fn("capget", _Str, _CapData)
_sethostname = _fn("sethostname", _Str, _ULong)
_syscall = _fn("syscall")


def _fail(call: str, arg: str | None = None) -> OSError:
    err = _ctypes.get_errno()
    return OSError(err, f"{call}: {os.strerror(err)}", arg)


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (CLONE_NEW* flags)."""
    if _unshare(flags) != 0:
        raise _fail("unshare")


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace(s) of FD: a /proc/PID/ns/* file, or a pidfd with CLONE_NEW* flags."""
    if _setns(fd, nstype) != 0:
        raise _fail("setns")


def mount(
    source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    """Mount SOURCE on TARGET (see mount(2)); None passes NULL."""
    if _mount(_b(source), _b(target), _b(fstype), flags, _b(data)) != 0:
        raise _fail("mount", target)


def umount2(target: str, flags: int = 0) -> None:
    """Unmount TARGET (MNT_DETACH for a lazy unmount)."""
    if _umount2(_b(target), flags) != 0:
        raise _fail("umount2", target)


def pivot_root(new_root: str, put_old: str) -> None:
    """Make NEW_ROOT the root mount of the caller's mount namespace."""
    nr = _SYS_PIVOT_ROOT.get(os.uname().machine, 155)
    if _syscall(_Long(nr), _b(new_root), _b(put_old)) != 0:
        raise _fail("pivot_root", new_root)


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    """Call prctl(2) and return its (non-negative) result."""
    ret = int(_prctl(option, a2, a3, a4, a5))
    if ret < 0:
        raise _fail(f"prctl({option})")
    return ret


def sethostname(name: str) -> None:
    """Set the hostname of the caller's UTS namespace."""
    raw = name.encode()
    if _sethostname(raw, len(raw)) != 0:
        raise _fail("sethostname", name)


def _u32(v: int) -> bytes:
    return (v & 0xFFFFFFFF).to_bytes(4, sys.byteorder)


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the caller's effective, permitted and inheritable capability masks (64-bit each)."""
    header = _u32(_LINUX_CAPABILITY_VERSION_3) + _u32(0)
    data = b"".join(
        _u32(m >> shift) for shift in (0, 32) for m in (effective, permitted, inheritable)
    )
    if _capset(header, data) != 0:
        raise _fail("capset")


def capget() -> tuple[int, int, int]:
    """Return the caller's (effective, permitted, inheritable) capability masks."""
    header = _u32(_LINUX_CAPABILITY_VERSION_3) + _u32(0)
    buf = _CapData()
    if _capget(header, buf) != 0:
        raise _fail("capget")
    raw = bytes(memoryview(buf))
    w = [int.from_bytes(raw[i : i + 4], sys.byteorder) for i in range(0, 24, 4)]
    return w[0] | w[3] << 32, w[1] | w[4] << 32, w[2] | w[5] << 32
