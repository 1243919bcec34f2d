"""Resolve paths inside a container's rootfs without escaping it.

A rootfs comes from an image: any of its symlinks may be absolute or climb
with "..", and must be read as if the rootfs were "/". Stdlib only (the shim
uses it before pivot_root, the daemon to read /etc/passwd).
"""

from __future__ import annotations

import errno
import os
import stat

_MAX_LINKS = 255


def secure_join(root: str, unsafe: str) -> str:
    """Return ROOT/UNSAFE with every symlink resolved as if ROOT were "/".

    Components that do not exist are kept literally, so the result may be
    created afterwards; the result never leaves ROOT.
    """
    root = root.rstrip("/") or "/"
    todo = [p for p in reversed(unsafe.split("/")) if p and p != "."]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        cur = _join(root, [*done, part])
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            done.append(part)
            continue
        if not stat.S_ISLNK(st.st_mode):
            done.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), _join(root, [*done, part]))
        target = os.readlink(cur)
        if target.startswith("/"):
            done = []
        todo.extend(p for p in reversed(target.split("/")) if p and p != ".")
    return _join(root, done)


def _join(root: str, parts: list[str]) -> str:
    if not parts:
        return root
    return ("" if root == "/" else root) + "/" + "/".join(parts)
