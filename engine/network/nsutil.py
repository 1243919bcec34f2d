"""Network namespaces: create one bound to a file, delete it, run code inside one.

A network namespace is per *thread* in Linux, so code runs "inside" a
namespace in a short-lived thread that setns()es into it; a socket keeps the
namespace it was created in, so a netlink socket opened there acts there
after the thread ends, and a process forked from that thread starts there.
This is how the daemon (and the tests, which run a whole "host" in a netns)
programs namespaces without `ip netns exec`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from shoal.engine.network.errors import NetworkSystemError

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise NetworkSystemError(f"{what}: {os.strerror(err)}")


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns {path}")
    finally:
        os.close(fd)


def _in_thread(fn: Callable[[], T]) -> T:
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    t = threading.Thread(target=run, name="shoal-netns")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def run_in(netns: str | None, fn: Callable[[], T]) -> T:
    """Return fn() run in network namespace NETNS (a bound file); None runs it here."""
    if netns is None:
        return fn()

    def inner() -> T:
        _setns(netns)
        return fn()  # the thread ends right after: nothing to restore

    return _in_thread(inner)


def create(path: Path, parent: str | None = None, setup: Callable[[], None] | None = None) -> None:
    """Create a new network namespace bound at PATH (like `ip netns add`).

    PARENT is the namespace the new one is created from (it only matters for
    the mount: namespaces do not nest). SETUP runs inside the new namespace
    before it is published (the caller brings lo up there).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=False)

    def inner() -> None:
        if parent is not None:
            _setns(parent)
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        if setup is not None:
            setup()
        src = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        _check(_libc.mount(src, str(path).encode(), None, MS_BIND, None), f"bind {path}")

    try:
        _in_thread(inner)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def remove(path: Path) -> None:
    """Unmount and delete the namespace file PATH; a missing file is not an error."""
    if not path.exists():
        return
    rc = _libc.umount2(str(path).encode(), MNT_DETACH)
    if rc != 0 and ctypes.get_errno() not in (22,):  # EINVAL: not a mount point
        _check(rc, f"umount {path}")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def is_netns(path: Path) -> bool:
    """Return True if PATH is a bound network namespace (not a bare file)."""
    try:
        st, parent = os.stat(path), os.stat(path.parent)
    except OSError:
        return False
    return st.st_dev != parent.st_dev


def _sysctl_path(key: str) -> str:
    """Return the /proc/sys file of KEY: dotted, or slashed when it holds an interface name
    that may contain dots (net/ipv4/conf/eth0.5/route_localnet)."""
    return "/proc/sys/" + (key if "/" in key else key.replace(".", "/"))


def open_fd(netns: str | None) -> int:
    """Return an O_RDONLY descriptor of namespace NETNS (None: the calling thread's)."""
    return os.open(netns or "/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def sysctl_write(netns: str | None, key: str, value: str) -> None:
    """Write a /proc/sys value (dotted or slashed KEY) as seen from namespace NETNS."""
    p = _sysctl_path(key)

    def inner() -> None:
        with open(p, "w") as f:
            f.write(value)

    try:
        run_in(netns, inner)
    except OSError as exc:
        raise NetworkSystemError(f"sysctl {key}={value}: {exc}") from exc


def sysctl_read(netns: str | None, key: str) -> str:
    """Return a /proc/sys value (dotted or slashed KEY) as seen from namespace NETNS."""
    p = _sysctl_path(key)
    return run_in(netns, lambda: Path(p).read_text().strip())
