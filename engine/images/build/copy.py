"""COPY/ADD: put build-context sources into the root filesystem being built, as Docker does.

- dest relative → joined to the workdir; a dest ending in "/" (or an existing
  directory) is a directory; several sources need such a directory;
- dest is resolved inside the rootfs (its symlinks followed as if the rootfs
  were "/"), and nothing is ever written through a symlink;
- a directory source copies its contents, not itself; a file source lands at
  dest, or at dest/<its name> when dest is a directory;
- missing parents of dest are created root-owned 0755; the destination
  directory a directory source creates takes that directory's mode;
- owners are the chown pair or 0:0; modes are kept unless chmod is given;
  mtimes are kept; symlinks stay symlinks; hard links among the sources stay
  hard links;
- with extract_tars (ADD), a local tar (plain, gzip, bzip2, xz: detected by its
  content) is unpacked into dest by engine/snapshots/unpack (which refuses
  entries escaping dest) instead of being copied.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import tarfile
from pathlib import Path
from typing import Any, BinaryIO, cast

from shoal.engine.images.build.context import Source, resolve_in_root
from shoal.engine.images.build.errors import BuildError, ContextError, where
from shoal.engine.images.build.ignore import IgnoreMatcher
from shoal.engine.images.compression import NONE, decompressor, detect, open_uncompressed
from shoal.engine.snapshots.errors import InvalidLayer
from shoal.engine.snapshots.unpack import unpack


class _Copier:
    def __init__(self, root: str, owner: tuple[int, int], chmod: int | None, at: str) -> None:
        self.root, self.owner, self.chmod, self.at = root, owner, chmod, at
        self.privileged = os.geteuid() == 0
        self.links: dict[tuple[int, int], str] = {}

    def error(self, message: str) -> BuildError:
        return BuildError(f"{self.at}: {message}")

    def resolve(self, path: str, follow_last: bool = True) -> tuple[str, list[str]]:
        try:
            return resolve_in_root(self.root, path, follow_last=follow_last)
        except OSError as exc:
            raise self.error(f"cannot resolve {path} in the image: {exc.strerror}") from None

    def ensure_dir(self, path: str, like: os.stat_result | None = None) -> str:
        """Return the real directory PATH (inside the rootfs), creating what is missing.

        Missing parents are root-owned 0755; a created last component takes LIKE's
        mode (and the copy's owner) when given.
        """
        real, missing = self.resolve(path)
        if not missing:
            if not os.path.isdir(real):
                raise self.error(f"cannot copy to {path}: it is not a directory")
            return real
        for k, comp in enumerate(missing):
            real = os.path.join(real, comp)
            os.mkdir(real, 0o755)
            if k == len(missing) - 1 and like is not None:
                self.metadata(real, like)
            elif self.privileged:
                os.lchown(real, 0, 0)
        return real

    def metadata(self, path: str, st: os.stat_result) -> None:
        """Give PATH the copy's owner, ST's mode (or chmod) and ST's times."""
        link = stat.S_ISLNK(st.st_mode)
        if self.privileged:
            os.lchown(path, *self.owner)
        elif self.owner != (os.geteuid(), os.getegid()) and self.owner != (0, 0):
            raise self.error("--chown needs the daemon to run as root")
        if not link:
            os.chmod(path, self.chmod if self.chmod is not None else stat.S_IMODE(st.st_mode))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    def copy_tree(self, src: str, dst: str, rel: str, ignore: IgnoreMatcher | None) -> None:
        """Copy the contents of directory SRC into the real directory DST."""
        with os.scandir(src) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            crel = e.name if rel == "." else f"{rel}/{e.name}"
            skip_self = False
            if ignore is not None and ignore.ignored(crel):
                if not (e.is_dir(follow_symlinks=False) and ignore.dir_may_contain_included(crel)):
                    continue
                skip_self = True  # an ignored directory holding re-included files
            self.copy_entry(e.path, dst, e.name, crel, ignore, skip_self)

    def copy_entry(
        self,
        src: str,
        dst_dir: str,
        name: str,
        rel: str,
        ignore: IgnoreMatcher | None,
        bare_dir: bool = False,
    ) -> None:
        st = os.lstat(src)
        mode = st.st_mode
        target = os.path.join(dst_dir, name)
        try:
            old: os.stat_result | None = os.lstat(target)
        except FileNotFoundError:
            old = None
        if stat.S_ISDIR(mode):
            if old is not None and stat.S_ISLNK(old.st_mode):
                real, missing = self.resolve(os.path.relpath(target, self.root))
                if not missing and os.path.isdir(real):
                    target, old = real, os.lstat(real)  # merge into the linked directory
                else:
                    os.unlink(target)
                    old = None
            if old is not None and not stat.S_ISDIR(old.st_mode):
                os.unlink(target)
                old = None
            if old is None:
                os.mkdir(target, 0o700)
            self.copy_tree(src, target, rel, ignore)
            if not bare_dir or old is None:
                self.metadata(target, st)
            return
        if old is not None:
            if stat.S_ISDIR(old.st_mode):
                raise self.error(f"cannot replace the directory /{rel} with a file")
            os.unlink(target)
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and not stat.S_ISDIR(mode) and key in self.links:
            os.link(self.links[key], target, follow_symlinks=False)
            return
        if stat.S_ISREG(mode):
            _copy_file(src, target)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), target)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            if not self.privileged:
                return
            os.mknod(target, stat.S_IFMT(mode) | 0o600, st.st_rdev)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(target, 0o600)
        else:
            return  # sockets are not content
        if st.st_nlink > 1:
            self.links[key] = target
        self.metadata(target, st)


def _copy_file(src: str, dst: str) -> None:
    """Copy SRC's content into the new file DST (never through a symlink)."""
    fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            size = os.fstat(fd_in).st_size
            offset = 0
            while offset < size:
                try:
                    n = os.copy_file_range(fd_in, fd_out, size - offset)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                        raise
                    n = os.sendfile(fd_out, fd_in, offset, size - offset)
                if n == 0:
                    break
                offset += n
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)


def _is_archive(path: str) -> bool:
    """Tell whether PATH is a tar archive, plain or compressed (by its content, as Docker)."""
    with open(path, "rb") as f:
        kind = detect(f.read(6))
        f.seek(0)
        try:
            reader = decompressor(cast(BinaryIO, f), kind) if kind != NONE else cast(BinaryIO, f)
            with tarfile.open(fileobj=cast(Any, reader), mode="r|") as tar:
                return tar.next() is not None
        except Exception:  # not a tar, or not what its magic said: a plain file to copy
            return False


def copy_sources(
    sources: list[Source],
    dest: str,
    rootfs: Path,
    *,
    workdir: str = "/",
    chown: tuple[int, int] | None = None,
    chmod: int | None = None,
    extract_tars: bool = False,
    file: str = "Dockerfile",
    line: int = 0,
) -> None:
    """Copy SOURCES to DEST inside ROOTFS with Docker's COPY (or ADD, EXTRACT_TARS) rules."""
    at = where(file, line)
    if not sources:
        raise BuildError(f"{at}: no source files were specified")
    root = os.path.realpath(rootfs)
    path = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    c = _Copier(root, chown or (0, 0), chmod, at)
    real, missing = c.resolve(path)
    to_dir = dest.endswith("/") or dest in (".", "") or dest.endswith("/.")
    to_dir = to_dir or (not missing and os.path.isdir(real))
    if len(sources) > 1 and not to_dir:
        raise BuildError(
            f"{at}: with several sources, the destination {dest!r} must be a directory "
            "and end with a /"
        )
    for src in sources:
        st = os.stat(src.path)
        if stat.S_ISDIR(st.st_mode):
            target = c.ensure_dir(path, like=st)
            c.copy_tree(str(src.path), target, src.rel, src.ignore)
            continue
        if extract_tars and stat.S_ISREG(st.st_mode) and _is_archive(str(src.path)):
            target = c.ensure_dir(path)
            with open_uncompressed(open(src.path, "rb"), src.rel) as archive:
                try:
                    unpack(archive, Path(target), src.rel)
                except InvalidLayer as exc:
                    raise ContextError(f"{at}: ADD failed: archive {src.rel}: {exc}") from exc
            continue
        if to_dir:
            parent, name = c.ensure_dir(path), posixpath.basename(src.rel)
        else:
            parent, name = c.ensure_dir(posixpath.dirname(path)), posixpath.basename(path)
        c.copy_entry(str(src.path), parent, name, src.rel, None)
