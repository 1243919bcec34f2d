"""Write a busybox rootfs tarball from Debian's busybox-static (no registry needed).

Usage: python scripts/busybox_rootfs.py OUT.tar

The tarball holds /bin/busybox with a symlink per applet in /bin, /etc/passwd
and /etc/group (root, nobody, and a user 'app' 1000:1000), /tmp (1777) and
empty /proc /sys /dev mount points: the same shape as Docker Hub's busybox.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import time

BUSYBOX = "/bin/busybox"

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\nwheel:x:10:app\napp:x:1000:\nnogroup:x:65534:\n"


def applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True)
    return sorted({a.strip() for a in out.stdout.split() if a.strip() and a.strip() != "busybox"})


def _dir(tar: tarfile.TarFile, name: str, mode: int = 0o755, uid: int = 0) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.uid = info.gid = uid
    info.mtime = int(time.time())
    tar.addfile(info)


def _file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def write_rootfs(out: str) -> None:
    """Write the busybox rootfs tarball to OUT."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "etc", "root", "home", "proc", "sys", "dev", "var", "usr", "usr/bin"):
            _dir(tar, d, 0o700 if d == "root" else 0o755)
        _dir(tar, "home/app", 0o755, uid=1000)
        _dir(tar, "tmp", 0o1777)
        with open(BUSYBOX, "rb") as f:
            _file(tar, "bin/busybox", f.read(), 0o755)
        for name in applets():
            info = tarfile.TarInfo(f"bin/{name}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            info.mode = 0o777
            tar.addfile(info)
        _file(tar, "etc/passwd", PASSWD.encode())
        _file(tar, "etc/group", GROUP.encode())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: busybox_rootfs.py OUT.tar")
    write_rootfs(sys.argv[1])
