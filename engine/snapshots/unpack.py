"""Unpack a layer tar into a directory, safely, mapping whiteouts to overlayfs.

Safety rules (an entry breaking one raises UnsafeLayer naming the layer and entry):
- names are cleaned lexically; a `..` that climbs above the root is rejected
  (a leading "/" is stripped, as Docker does);
- a parent directory reached through a symlink of this layer is followed only
  when the link is relative and stays inside the rootfs; an absolute target, or
  one climbing out, is rejected;
- a hard link must point to an entry this layer already unpacked, inside the
  rootfs, and not to a directory.
Each path is resolved component by component with lstat, and files are created
with O_NOFOLLOW|O_EXCL, so nothing is ever written through a symlink.

Whiteouts: `.wh.NAME` becomes a 0/0 character device NAME (overlayfs's
whiteout) and `.wh..wh..opq` sets trusted.overlay.opaque=y on its directory.
unpack_layer() works in a temp directory renamed into place on success, so a
rejected layer leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, cast

from shoal.engine.errors import SystemFailure
from shoal.engine.snapshots.errors import InvalidLayer, UnsafeLayer

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
META_PREFIX = ".wh..wh."
OPAQUE_XATTR = "trusted.overlay.opaque"
_XATTR_PAX = "SCHILY.xattr."
_MAX_LINKS = 40
_IGNORED_ERRNOS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP)


def _short(digest: str) -> str:
    return digest[:19] + "…" if len(digest) > 19 else digest


class _Unpacker:
    def __init__(self, root: str, layer: str) -> None:
        self.root = root
        self.layer = layer
        self.privileged = os.geteuid() == 0
        self.dirs: list[tuple[str, tarfile.TarInfo]] = []
        self.size = 0

    def unsafe(self, name: str, why: str) -> UnsafeLayer:
        return UnsafeLayer(f"layer {_short(self.layer)}: entry {name!r} {why}")

    def clean(self, path: str, entry: str, what: str = "") -> list[str]:
        """Return PATH's components, `.` and `..` resolved lexically inside the root."""
        parts: list[str] = []
        for p in path.split("/"):
            if p in ("", "."):
                continue
            if p == "..":
                if not parts:
                    raise self.unsafe(entry, f"{what}escapes the rootfs")
                parts.pop()
            else:
                parts.append(p)
        return parts

    def resolve_dir(self, parts: list[str], entry: str, missing: str = "") -> str:
        """Return the real path of directory PARTS, following only symlinks that stay inside.

        Missing directories are created, unless MISSING says why they must exist.
        """
        done: list[str] = []
        todo = list(parts)
        hops = 0
        while todo:
            comp = todo.pop(0)
            path = os.path.join(self.root, *done, comp)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if missing:
                    raise self.unsafe(entry, missing) from None
                os.mkdir(path, 0o755)
                done.append(comp)
                continue
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                link, target = "/".join([*done, comp]), os.readlink(path)
                if hops > _MAX_LINKS:
                    raise self.unsafe(entry, "goes through too many symlinks")
                if target.startswith("/"):
                    raise self.unsafe(
                        entry, f"has a parent symlink {link!r} -> {target!r} (an absolute path)"
                    )
                where = f"has a parent symlink {link!r} -> {target!r} that "
                todo = self.clean("/".join([*done, target]), entry, where) + todo
                done = []
            elif stat.S_ISDIR(st.st_mode):
                done.append(comp)
            else:
                raise InvalidLayer(
                    f"layer {_short(self.layer)}: entry {entry!r}: "
                    f"parent {'/'.join([*done, comp])!r} is not a directory"
                )
        return os.path.join(self.root, *done)

    def remove_existing(self, path: str, keep_dir: bool) -> bool:
        """Remove what is at PATH (unless it is a directory and KEEP_DIR); tell if it remains."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return False

    def whiteout(self, m: tarfile.TarInfo, parts: list[str]) -> None:
        parent = self.resolve_dir(parts[:-1], m.name)
        base = parts[-1]
        if base == OPAQUE:
            os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        if base.startswith(META_PREFIX):  # aufs bookkeeping (.wh..wh.plnk ...): not content
            return
        name = base[len(WHITEOUT) :]
        if name in ("", ".", ".."):
            raise InvalidLayer(f"layer {_short(self.layer)}: entry {m.name!r} is a bad whiteout")
        path = os.path.join(parent, name)
        self.remove_existing(path, keep_dir=False)
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(0, 0))
        except PermissionError as exc:
            raise SystemFailure(f"cannot create the whiteout of {m.name!r}: {exc}") from exc

    def extract(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = self.clean(m.name, m.name)
        if not parts:
            return  # the root itself ("./")
        if parts[-1].startswith(WHITEOUT):
            self.whiteout(m, parts)
            return
        parent = self.resolve_dir(parts[:-1], m.name)
        path = os.path.join(parent, parts[-1])
        exists = self.remove_existing(path, keep_dir=m.isdir())
        if m.isdir():
            if not exists:
                os.mkdir(path, 0o700)
            self.dirs.append((path, m))
        elif m.isreg():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                src = tar.extractfile(m)
                if src is not None:
                    shutil.copyfileobj(src, out, 1 << 20)
            self.size += m.size
        elif m.issym():
            os.symlink(m.linkname, path)
        elif m.islnk():
            self.hardlink(m, path)
            return
        elif m.ischr() or m.isblk():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            try:
                os.mknod(path, kind | 0o600, os.makedev(m.devmajor, m.devminor))
            except PermissionError:
                return  # unprivileged: devices come from the runtime anyway
        elif m.isfifo():
            os.mkfifo(path, 0o600)
        else:
            raise InvalidLayer(
                f"layer {_short(self.layer)}: entry {m.name!r} has an unsupported type {m.type!r}"
            )
        if not m.isdir():
            self.metadata(path, m)

    def hardlink(self, m: tarfile.TarInfo, path: str) -> None:
        tparts = self.clean(m.linkname, m.name, f"is a hard link to {m.linkname!r}, which ")
        if not tparts:
            raise self.unsafe(m.name, "is a hard link to the rootfs itself")
        absent = f"is a hard link to {m.linkname!r}, which is not in the layer"
        tparent = self.resolve_dir(tparts[:-1], m.name, missing=absent)
        target = os.path.join(tparent, tparts[-1])
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            raise self.unsafe(m.name, absent) from None
        if stat.S_ISDIR(st.st_mode):
            raise self.unsafe(m.name, f"is a hard link to the directory {m.linkname!r}")
        os.link(target, path, follow_symlinks=False)

    def metadata(self, path: str, m: tarfile.TarInfo) -> None:
        if self.privileged:
            os.lchown(path, m.uid, m.gid)
        for key, value in m.pax_headers.items():
            if not key.startswith(_XATTR_PAX):
                continue
            name = key[len(_XATTR_PAX) :]
            if name.startswith("trusted.overlay."):
                continue  # a layer must not forge overlayfs metadata
            raw = value.encode("utf-8", "surrogateescape")
            try:
                os.setxattr(path, name, raw, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in _IGNORED_ERRNOS:
                    raise
        if not m.issym():
            os.chmod(path, m.mode & 0o7777)
        os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)

    def finish(self) -> None:
        """Set directories' metadata last, deepest first, so their mtimes stick."""
        for path, m in reversed(self.dirs):
            self.metadata(path, m)


def unpack(stream: BinaryIO, dest: Path, layer: str = "") -> int:
    """Unpack the uncompressed tar STREAM into the existing directory DEST.

    LAYER (the layer's digest) is named in errors. Return the bytes of file content written.
    """
    u = _Unpacker(os.path.realpath(dest), layer)
    try:
        with tarfile.open(fileobj=cast(Any, stream), mode="r|") as tar:
            for m in tar:
                u.extract(tar, m)
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidLayer(f"layer {_short(layer)}: not a valid tar stream: {exc}") from exc
    u.finish()
    return u.size


def unpack_layer(stream: BinaryIO, dest: Path, layer: str = "") -> int:
    """Unpack STREAM into DEST (which must not exist) atomically: all of it or nothing."""
    dest = Path(dest)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        os.chmod(tmp, 0o755)
        size = unpack(stream, tmp, layer)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return size
