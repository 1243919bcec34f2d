"""A build context: a directory whose files COPY/ADD may read, hashed for the build cache.

The root is either the extracted context the client sent (its .dockerignore
applies: ignored files are invisible) or the root filesystem of another stage or
image (COPY --from, no ignore rules). Paths are resolved inside the root as if
it were "/": an absolute symlink restarts at the root, `..` stops at the root,
so nothing outside is ever read. Source patterns use Go's filepath.Match syntax
per path segment, like Docker's COPY.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from shoal.engine.images.build.errors import ContextError, where
from shoal.engine.images.build.ignore import IgnoreMatcher, glob_regex
from shoal.engine.images.compression import open_uncompressed
from shoal.engine.images.errors import InvalidArchive

_MAX_LINKS = 40
_MAGIC = re.compile(r"[*?\[\\]")


@dataclass(frozen=True)
class Source:
    """One COPY/ADD source: REL inside the context, PATH on the host (symlinks resolved)."""

    rel: str
    path: Path
    ignore: IgnoreMatcher | None = field(default=None, compare=False, repr=False)


def resolve_in_root(root: str, rel: str, *, follow_last: bool = True) -> tuple[str, list[str]]:
    """Resolve REL inside ROOT as if ROOT were "/"; return (real existing path, missing parts).

    Symlinks are followed within ROOT (the last component only with FOLLOW_LAST).
    MISSING is the (lexically cleaned) rest from the first component that does not
    exist. Raise NotADirectoryError when a middle component is not a directory and
    OSError(ELOOP) on a symlink loop.
    """
    todo = [p for p in rel.split("/") if p not in ("", ".")]
    done: list[str] = []
    missing: list[str] = []
    hops = 0
    while todo:
        comp = todo.pop(0)
        if missing:  # below a missing component: plain names, nothing to look up
            if comp == "..":
                missing.pop()
            else:
                missing.append(comp)
            continue
        if comp == "..":
            if done:
                done.pop()
            continue
        path = os.path.join(root, *done, comp)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            missing.append(comp)
            continue
        if stat.S_ISLNK(st.st_mode) and (todo or follow_last):
            hops += 1
            if hops > _MAX_LINKS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", rel)
            target = os.readlink(path)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p not in ("", ".")] + todo
            continue
        if todo and not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", "/".join([*done, comp]))
        done.append(comp)
    return os.path.join(root, *done), missing


class BuildContext:
    """The files a build may COPY/ADD from, below ROOT."""

    def __init__(self, root: Path, ignore: IgnoreMatcher | None = None) -> None:
        self.root = Path(os.path.realpath(root))
        self.ignore = ignore if ignore else None
        self._digests: dict[tuple[int, int, int, int, int], bytes] = {}

    # -- the context tar the client sent --------------------------------------------------

    @classmethod
    def from_tar(cls, stream: BinaryIO, dest: Path, dockerfile: str = "Dockerfile") -> BuildContext:
        """Extract the context tar STREAM (plain, gzip, bzip2, xz) into DEST, safely.

        Entries escaping DEST, hard links to anything but an earlier file, and
        writes through symlinks are refused (ContextError); device nodes, fifos
        and sockets are skipped. DEST is created, and removed again on failure.
        The .dockerignore applies to sources(); the Dockerfile named DOCKERFILE
        and .dockerignore stay readable by read_dockerfile() even when ignored.
        """
        dest = Path(dest)
        created = not dest.exists()
        dest.mkdir(parents=True, exist_ok=True)
        try:
            _extract(stream, os.path.realpath(dest))
        except BaseException:
            if created:
                shutil.rmtree(dest, ignore_errors=True)
            raise
        ctx = cls(dest, IgnoreMatcher.read(dest))
        ctx.dockerfile = dockerfile
        return ctx

    dockerfile = "Dockerfile"

    def read_dockerfile(self, name: str = "Dockerfile") -> tuple[str, str]:
        """Return (text, display name) of the Dockerfile NAME inside the context."""
        candidates = [name] + (["dockerfile"] if name == "Dockerfile" else [])
        for cand in candidates:
            rel = _clean_rel(cand)
            if rel is None:
                raise ContextError(f"the Dockerfile {name!r} is outside the build context")
            try:
                path, missing = resolve_in_root(str(self.root), rel)
            except OSError:
                continue
            if missing or not os.path.isfile(path):
                continue
            data = Path(path).read_bytes()
            try:
                return data.decode("utf-8"), cand
            except UnicodeDecodeError as exc:
                raise ContextError(f"{cand}: not UTF-8 text ({exc})") from None
        raise ContextError(f"cannot locate the Dockerfile {name!r} in the build context")

    # -- sources ----------------------------------------------------------------------------

    def sources(
        self, patterns: list[str], *, file: str = "Dockerfile", line: int = 0, keyword: str = "COPY"
    ) -> list[Source]:
        """Return the sources PATTERNS name (paths or globs relative to the root), in order.

        Raise ContextError (naming FILE:LINE and the pattern) for a pattern outside the
        context or one that matches nothing visible.
        """
        at = where(file, line)
        out: list[Source] = []
        for pat in patterns:
            rel = _clean_rel(pat)
            if rel is None:
                raise ContextError(
                    f"{at}: {keyword} failed: forbidden path outside the build context: {pat}"
                )
            found = self._glob(rel) if _MAGIC.search(rel) else self._lookup(rel)
            if not found:
                what = "no files match" if _MAGIC.search(rel) else "file not found:"
                raise ContextError(
                    f"{at}: {keyword} failed: {what} {pat} "
                    "(not in the build context, or excluded by .dockerignore)"
                )
            out.extend(found)
        return out

    def _hidden(self, rel: str) -> bool:
        return self.ignore is not None and rel != "." and self.ignore.ignored(rel)

    def _source(self, rel: str) -> Source | None:
        try:
            path, missing = resolve_in_root(str(self.root), rel)
        except OSError:
            return None
        if missing:
            return None
        return Source(rel, Path(path), self.ignore)

    def _lookup(self, rel: str) -> list[Source]:
        if self._hidden(rel):
            return []
        src = self._source(rel)
        return [src] if src else []

    def _glob(self, rel: str) -> list[Source]:
        rels = [""]
        for seg in rel.split("/"):
            nxt: list[str] = []
            for base in rels:
                if not _MAGIC.search(seg):
                    nxt.append(f"{base}/{seg}" if base else seg)
                    continue
                try:
                    dpath, missing = resolve_in_root(str(self.root), base or ".")
                    names = sorted(os.listdir(dpath)) if not missing else []
                except OSError:
                    continue
                rx = re.compile(glob_regex(seg, double_star=False), re.S)
                nxt.extend(f"{base}/{n}" if base else n for n in names if rx.fullmatch(n))
            rels = [r for r in nxt if not self._pruned(r)]
        out = []
        for r in rels:
            if self._hidden(r):
                continue
            src = self._source(r)
            if src is not None:
                out.append(src)
        return out

    def _pruned(self, rel: str) -> bool:
        """Tell whether REL is ignored with nothing below it re-included."""
        return (
            self.ignore is not None
            and self.ignore.ignored(rel)
            and not self.ignore.dir_may_contain_included(rel)
        )

    # -- checksum ---------------------------------------------------------------------------

    def checksum(self, sources: list[Source]) -> str:
        """Return "sha256:..." over the sources' trees (names, types, modes, link targets, data).

        Owners and times are left out (COPY resets owners); the order of SOURCES counts.
        File digests are cached per (device, inode, size, mtime, ctime).
        """
        h = hashlib.sha256()
        for src in sources:
            h.update(b"source\0" + src.rel.encode("utf-8", "surrogateescape") + b"\0")
            self._hash(h, str(src.path), src.rel, src.ignore, top=True)
        return "sha256:" + h.hexdigest()

    def _hash(
        self, h: hashlib._Hash, path: str, rel: str, ignore: IgnoreMatcher | None, top: bool
    ) -> None:
        st = os.stat(path) if top else os.lstat(path)
        mode = st.st_mode
        name = (rel if not top else ".").encode("utf-8", "surrogateescape")
        h.update(b"%s\0%o\0" % (name, mode))
        if stat.S_ISREG(mode):
            h.update(self._file_digest(path, st))
        elif stat.S_ISLNK(mode):
            h.update(os.readlink(path).encode("utf-8", "surrogateescape") + b"\0")
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            h.update(b"%d\0" % st.st_rdev)
        elif stat.S_ISDIR(mode):
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
            for e in entries:
                crel = e.name if rel == "." else f"{rel}/{e.name}"
                if ignore is not None and ignore.ignored(crel):
                    if not (
                        e.is_dir(follow_symlinks=False) and ignore.dir_may_contain_included(crel)
                    ):
                        continue
                self._hash(h, e.path, crel, ignore, top=False)
        h.update(b"\n")

    def _file_digest(self, path: str, st: os.stat_result) -> bytes:
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        digest = self._digests.get(key)
        if digest is None:
            with open(path, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").digest()
            self._digests[key] = digest
        return digest


def _clean_rel(pattern: str) -> str | None:
    """Return PATTERN relative to the root ("." for the root), or None when it climbs out."""
    rel = posixpath.normpath(pattern.lstrip("/") or ".")
    if rel == ".." or rel.startswith("../"):
        return None
    return rel


def _extract(stream: BinaryIO, root: str) -> None:
    """Extract the context tar STREAM below ROOT (see BuildContext.from_tar)."""
    dirs: list[tuple[str, tarfile.TarInfo]] = []
    try:
        reader = open_uncompressed(stream, "build context")
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            for m in tar:
                _extract_one(tar, m, root, dirs)
    except (tarfile.TarError, EOFError, OSError, InvalidArchive) as exc:
        if isinstance(exc, ContextError):
            raise
        raise ContextError(f"build context: not a valid tar stream: {exc}") from exc
    for path, m in reversed(dirs):
        os.chmod(path, m.mode & 0o7777 | 0o700)
        os.utime(path, (m.mtime, m.mtime))


def _parts(name: str, entry: str) -> list[str]:
    parts: list[str] = []
    for p in name.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                raise ContextError(f"build context: entry {entry!r} escapes the context")
            parts.pop()
        else:
            parts.append(p)
    return parts


def _parent(root: str, parts: list[str], entry: str) -> str:
    """Return the directory holding PARTS[-1], creating real directories, never via symlinks."""
    path = root
    for comp in parts[:-1]:
        path = os.path.join(path, comp)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise ContextError(
                f"build context: entry {entry!r} goes through {comp!r}, which is not a directory"
            )
    return path


def _extract_one(
    tar: tarfile.TarFile, m: tarfile.TarInfo, root: str, dirs: list[tuple[str, tarfile.TarInfo]]
) -> None:
    parts = _parts(m.name, m.name)
    if not parts:
        return
    if not (m.isdir() or m.isreg() or m.issym() or m.islnk()):
        return  # devices, fifos: nothing a build needs from a context
    path = os.path.join(_parent(root, parts, m.name), parts[-1])
    try:
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) and not m.isdir():
            shutil.rmtree(path)
        elif not stat.S_ISDIR(st.st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    if m.isdir():
        if not os.path.isdir(path):
            os.mkdir(path, 0o755)
        dirs.append((path, m))
        return
    if m.isreg():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            src = tar.extractfile(m)
            if src is not None:
                shutil.copyfileobj(src, out, 1 << 20)
    elif m.issym():
        os.symlink(m.linkname, path)
        return
    else:
        tparts = _parts(m.linkname, m.name)
        target = os.path.join(root, *tparts)
        try:
            tst = os.lstat(target)
            real = os.path.realpath(os.path.dirname(target))
        except FileNotFoundError:
            tst, real = None, ""
        if (
            not tparts
            or tst is None
            or not stat.S_ISREG(tst.st_mode)
            or (real != root and not real.startswith(root + "/"))
        ):
            raise ContextError(
                f"build context: entry {m.name!r} is a hard link to {m.linkname!r}, "
                "which is not an earlier file of the context"
            )
        os.link(target, path, follow_symlinks=False)
        return
    os.chmod(path, m.mode & 0o7777)
    os.utime(path, (m.mtime, m.mtime))
