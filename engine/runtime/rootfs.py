"""Build a container's filesystem view: mounts, /dev, pivot_root, masked paths.

Runs in the container's init (the shim's child) after it unshared its mount
namespace, so every mount here dies with the container. Stdlib only; the
shim imports it as a sibling script module.
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
if TYPE_CHECKING or __package__:
    from . import syscalls as sc
    from .paths import secure_join
else:
    import syscalls as sc
    from paths import secure_join

_NOSUID_NODEV_NOEXEC = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC

# (name, major, minor) of the device nodes Docker gives every container.
DEVICES = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0)]  # fmt: skip
DEV_LINKS = [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
             ("core", "/proc/kcore"), ("ptmx", "pts/ptmx")]  # fmt: skip
# Docker's defaults (moby oci/defaults.go).
MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap"]  # fmt: skip
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

_FLAG_OPTIONS = {
    "ro": (sc.MS_RDONLY, True), "rw": (sc.MS_RDONLY, False),
    "nosuid": (sc.MS_NOSUID, True), "suid": (sc.MS_NOSUID, False),
    "nodev": (sc.MS_NODEV, True), "dev": (sc.MS_NODEV, False),
    "noexec": (sc.MS_NOEXEC, True), "exec": (sc.MS_NOEXEC, False),
    "noatime": (sc.MS_NOATIME, True), "relatime": (sc.MS_RELATIME, True),
    "strictatime": (sc.MS_STRICTATIME, True), "nodiratime": (sc.MS_NODIRATIME, True),
}  # fmt: skip
_PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}  # fmt: skip
# statvfs f_flag bits -> mount flags, to keep them over a bind remount.
_ST_TO_MS = [(2, sc.MS_NOSUID), (4, sc.MS_NODEV), (8, sc.MS_NOEXEC), (1024, sc.MS_NOATIME),
             (2048, sc.MS_NODIRATIME), (4096, sc.MS_RELATIME)]  # fmt: skip


def prepare(spec: dict[str, Any]) -> None:
    """Mount the rootfs and its kernel filesystems, then pivot into it (cwd becomes "/")."""
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    root = spec["rootfs"]
    sc.mount(root, root, None, sc.MS_BIND | sc.MS_REC)
    _mount_at(root, "/proc", "proc", "proc", _NOSUID_NODEV_NOEXEC)
    _mount_dev(root)
    _mount_sys(root)
    for m in spec.get("mounts") or []:
        mount_one(root, m)
    os.chdir(root)
    sc.pivot_root(".", ".")
    # The old root now sits under the new one at "/": detach it without
    # propagating the unmount anywhere.
    sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def finish(spec: dict[str, Any]) -> None:
    """Mask and protect /proc and /sys paths, then make "/" read-only if asked (after pivot)."""
    for path in MASKED_PATHS:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
        else:
            sc.mount("/dev/null", path, None, sc.MS_BIND)
    for path in READONLY_PATHS:
        if os.path.lexists(path):
            sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
            remount_readonly(path)
    if spec.get("readonly_rootfs"):
        remount_readonly("/")


def remount_readonly(path: str) -> None:
    """Make the bind mount at PATH read-only, keeping its nosuid/nodev/noexec/atime flags."""
    flags = sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY
    f = os.statvfs(path).f_flag
    for st_bit, ms_bit in _ST_TO_MS:
        if f & st_bit:
            flags |= ms_bit
    sc.mount(None, path, None, flags)


def _mount_at(root: str, dest: str, source: str, fstype: str, flags: int, data: str = "") -> str:
    target = secure_join(root, dest)
    os.makedirs(target, exist_ok=True)
    sc.mount(source, target, fstype, flags, data or None)
    return target


def _mount_dev(root: str) -> None:
    dev = _mount_at(root, "/dev", "tmpfs", "tmpfs", sc.MS_NOSUID | sc.MS_STRICTATIME,
                    "mode=755,size=65536k")  # fmt: skip
    old = os.umask(0)
    try:
        for name, major, minor in DEVICES:
            path = f"{dev}/{name}"
            try:
                os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
            except PermissionError:  # no CAP_MKNOD (user namespace): bind the host's
                open(path, "a").close()
                sc.mount(f"/dev/{name}", path, None, sc.MS_BIND)
        os.mkdir(f"{dev}/pts", 0o755)
        sc.mount("devpts", f"{dev}/pts", "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
                 "newinstance,ptmxmode=0666,mode=0620,gid=5")  # fmt: skip
        os.mkdir(f"{dev}/shm", 0o1777)
        sc.mount("shm", f"{dev}/shm", "tmpfs", _NOSUID_NODEV_NOEXEC, "mode=1777,size=65536k")
        os.mkdir(f"{dev}/mqueue", 0o755)
        sc.mount("mqueue", f"{dev}/mqueue", "mqueue", _NOSUID_NODEV_NOEXEC)
        for name, target in DEV_LINKS:
            os.symlink(target, f"{dev}/{name}")
    finally:
        os.umask(old)


def _mount_sys(root: str) -> None:
    flags = _NOSUID_NODEV_NOEXEC | sc.MS_RDONLY
    try:
        _mount_at(root, "/sys", "sysfs", "sysfs", flags)
    except PermissionError:  # sysfs of a shared network namespace we do not own
        target = secure_join(root, "/sys")
        sc.mount("/sys", target, None, sc.MS_BIND | sc.MS_REC)
        remount_readonly(target)


def mount_one(root: str, m: dict[str, Any]) -> None:
    """Mount one spec.mounts entry (bind, tmpfs or any filesystem) below ROOT."""
    kind = m.get("type") or "bind"
    options = m.get("options") or []
    flags = 0
    propagation = 0
    data = []
    for opt in options:
        if opt in _FLAG_OPTIONS:
            bit, on = _FLAG_OPTIONS[opt]
            flags = flags | bit if on else flags & ~bit
        elif opt in _PROPAGATION:
            propagation = _PROPAGATION[opt]
        elif opt not in ("bind", "rbind"):
            data.append(opt)
    target = secure_join(root, m["destination"])
    source = m.get("source") or kind
    if kind == "bind":
        _make_target(target, os.path.isdir(source))
        recursive = "rbind" in options or "bind" not in options
        sc.mount(source, target, None, sc.MS_BIND | (sc.MS_REC if recursive else 0))
        if flags:
            sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | flags)
    else:
        _make_target(target, True)
        sc.mount(source, target, kind, flags, ",".join(data) or None)
    if propagation:
        sc.mount(None, target, None, propagation)


def _make_target(target: str, is_dir: bool) -> None:
    if is_dir:
        os.makedirs(target, exist_ok=True)
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    except OSError as exc:
        if exc.errno != errno.EISDIR:
            raise
