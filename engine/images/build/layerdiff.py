"""Turn the upper dir of an overlay snapshot into an OCI layer tar (a build step's layer).

The upper dir of an unmounted overlay holds exactly the step's changes, in the
form the snapshotter also uses for unpacked layers: a deleted path is a 0/0
character device, a directory that hides what is below it carries the xattr
`trusted.overlay.opaque=y`. The tar translates them to OCI whiteouts
(`.wh.NAME`, `.wh..wh..opq`). Entries are written in sorted, depth-first
order, so the same tree gives the same tar (mtimes are the files' own).

While walking, overlay's bookkeeping xattrs (origin, impure, nlink...) are
removed from the tree: the builder then adopts the dir as the new layer's
unpacked form (Snapshotter.adopt_layer) instead of unpacking the tar again.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO, cast

from shoal.engine.images import digest as dg
from shoal.engine.images.blobs import BlobStore
from shoal.engine.images.model import OCI_LAYER, Layer

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_OVERLAY = "trusted.overlay."
_OPAQUE_XATTR = "trusted.overlay.opaque"


class _HashingWriter:
    """A file-like sink that hashes and counts what is written to OUT."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.out.write(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size


def _xattrs(path: str, *, scrub: bool) -> tuple[dict[str, bytes], bool]:
    """Return (xattrs to keep in the tar, opaque?) of PATH; with SCRUB drop overlay's own."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}, False
    keep: dict[str, bytes] = {}
    opaque = False
    for name in names:
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        if name == _OPAQUE_XATTR:
            opaque = value == b"y"
        elif name.startswith(_OVERLAY):
            if scrub:
                try:
                    os.removexattr(path, name, follow_symlinks=False)
                except OSError:
                    pass
        elif not name.startswith("trusted."):
            keep[name] = value
    return keep, opaque


def _info(name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)
    return ti


def _empty(name: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = _info(name, st, tarfile.REGTYPE)
    ti.mode, ti.size = 0o644 if name.endswith(OPAQUE) else 0, 0
    return ti


class _Walker:
    def __init__(self, tar: tarfile.TarFile, scrub: bool) -> None:
        self.tar = tar
        self.scrub = scrub
        self.links: dict[tuple[int, int], str] = {}
        self.files = 0

    def walk(self, top: str, prefix: str) -> None:
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            self.entry(e.path, prefix + e.name)

    def entry(self, path: str, name: str) -> None:
        st = os.lstat(path)
        mode = st.st_mode
        xattrs, opaque = _xattrs(path, scrub=self.scrub)
        if stat.S_ISCHR(mode) and st.st_rdev == 0:  # overlay whiteout
            parent, _, base = name.rpartition("/")
            self.tar.addfile(_empty(f"{parent}/{WHITEOUT}{base}" if parent else WHITEOUT + base,
                                    st))
            return
        self.files += 1
        if stat.S_ISDIR(mode):
            ti = _info(name + "/", st, tarfile.DIRTYPE)
            self._add(ti, xattrs)
            if opaque:
                self.tar.addfile(_empty(f"{name}/{OPAQUE}", st))
            self.walk(path, name + "/")
            return
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.links:
                ti = _info(name, st, tarfile.LNKTYPE)
                ti.linkname = self.links[key]
                self._add(ti, {})
                return
            self.links[key] = name
            ti = _info(name, st, tarfile.REGTYPE)
            ti.size = st.st_size
            with open(path, "rb") as f:
                self._add(ti, xattrs, f)
            return
        if stat.S_ISLNK(mode):
            ti = _info(name, st, tarfile.SYMTYPE)
            ti.linkname = os.readlink(path)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            ti = _info(name, st, tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE)
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            ti = _info(name, st, tarfile.FIFOTYPE)
        else:
            return  # sockets cannot be archived
        self._add(ti, xattrs)

    def _add(self, ti: tarfile.TarInfo, xattrs: dict[str, bytes], f: Any = None) -> None:
        if xattrs:
            ti.pax_headers = {
                f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                for k, v in xattrs.items()
            }
        self.tar.addfile(ti, f)


def write_layer(upper: Path, out: BinaryIO, *, scrub: bool = True) -> tuple[str, int]:
    """Write UPPER as an uncompressed layer tar to OUT; return (diff id, tar size)."""
    sink = _HashingWriter(out)
    with tarfile.open(fileobj=cast(Any, sink), mode="w", format=tarfile.PAX_FORMAT) as tar:
        _Walker(tar, scrub).walk(str(upper), "")
    return f"{dg.ALGORITHM}:{sink.hash.hexdigest()}", sink.size


def store_layer(upper: Path, blobs: BlobStore, new: set[str]) -> Layer:
    """Write UPPER's layer tar into the content store (pinned; NEW collects it if created)."""
    fd, tmp = tempfile.mkstemp(dir=blobs.tmp, prefix="build-layer-")
    try:
        with os.fdopen(fd, "wb") as f:
            diff_id, size = write_layer(upper, cast(BinaryIO, f))
    except BaseException:
        os.unlink(tmp)
        raise
    blobs.commit_file(tmp, diff_id, pin=True, new=new)
    return Layer(diff_id, diff_id, size, OCI_LAYER, size)


def remove_created(upper: Path, paths: Iterable[str]) -> None:
    """Delete from UPPER the mount points the runtime made (PATHS, relative), if still empty.

    /proc, /dev, /sys and /etc/hosts-like files are created in a container's rootfs
    when the image lacks them; they are the runtime's, not the step's changes.
    """
    for rel in sorted(paths, key=len, reverse=True):
        p = upper / rel
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        try:
            if stat.S_ISDIR(st.st_mode):
                os.rmdir(p)
            elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
                os.unlink(p)
        except OSError:
            pass  # not empty: the step wrote there, keep it
