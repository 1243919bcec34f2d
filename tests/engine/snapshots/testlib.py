"""Builders for the snapshot tests: layer tars with any entry type, fake images.

Loaded by conftest.py as the module `snapshots_testlib` (tests are not a package).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from dataclasses import dataclass, field
from typing import BinaryIO

from shoal.engine.images import digest as dg

MTIME = 1_600_000_000


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class E:
    """One tar entry: kind is file, dir, sym, link, chr, blk or fifo."""

    name: str
    kind: str = "file"
    data: bytes = b""
    link: str = ""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    dev: tuple[int, int] = (0, 0)
    xattrs: dict[str, str] = field(default_factory=dict)
    mtime: int = MTIME


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "sym": tarfile.SYMTYPE,
    "link": tarfile.LNKTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def layer(*entries: E | str) -> bytes:
    """Return an uncompressed layer tar of ENTRIES (a str is a file holding its own name)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            if isinstance(e, str):
                e = E(e, data=e.encode())
            info = tarfile.TarInfo(e.name)
            info.type = _TYPES[e.kind]
            info.mode = e.mode if e.mode is not None else (0o755 if e.kind == "dir" else 0o644)
            info.uid, info.gid, info.mtime = e.uid, e.gid, e.mtime
            info.linkname = e.link
            info.devmajor, info.devminor = e.dev
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs.items()}
            info.size = len(e.data) if e.kind == "file" else 0
            tar.addfile(info, io.BytesIO(e.data) if e.kind == "file" else None)
    return buf.getvalue()


class FakeImages:
    """A LayerSource holding layer tars in memory; counts how often each is opened."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.opened: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, *layers: bytes) -> FakeImage:
        for data in layers:
            self.blobs[sha(data)] = data
        return FakeImage([sha(d) for d in layers])

    def open_layer(self, diff_id_or_digest: str) -> BinaryIO:
        with self._lock:
            self.opened[diff_id_or_digest] = self.opened.get(diff_id_or_digest, 0) + 1
        return io.BytesIO(self.blobs[diff_id_or_digest])


class FakeImage:
    """What the snapshotter needs of an image: an id, diff ids and chain ids."""

    def __init__(self, diff_ids: list[str]) -> None:
        self.diff_ids = diff_ids
        self.id = sha(" ".join(diff_ids).encode())

    def chain_ids(self) -> list[str]:
        return dg.chain_ids(self.diff_ids)
