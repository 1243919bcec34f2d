"""Layer compression: detect it from the first bytes and open a decompressing reader."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import importlib
import io
import lzma
from typing import Any, BinaryIO, cast

from shoal.engine.images import digest as dg
from shoal.engine.images.errors import InvalidArchive

NONE, GZIP, BZIP2, XZ, ZSTD = "none", "gzip", "bzip2", "xz", "zstd"

_MAGIC = (
    (b"\x1f\x8b", GZIP),
    (b"BZh", BZIP2),
    (b"\xfd7zXZ\x00", XZ),
    (b"\x28\xb5\x2f\xfd", ZSTD),
)


def detect(head: bytes) -> str:
    """Return the compression of a stream starting with HEAD (at least 6 bytes)."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return NONE


def detect_file(f: BinaryIO) -> str:
    """Return the compression of a seekable file; leave it at its start."""
    pos = f.tell()
    head = f.read(6)
    f.seek(pos)
    return detect(head)


def decompressor(f: BinaryIO, kind: str, what: str = "layer") -> BinaryIO:
    """Wrap F (positioned at the start of the data) in a reader that decompresses KIND."""
    if kind == NONE:
        return f
    if kind == GZIP:
        return cast(BinaryIO, gzip.GzipFile(fileobj=f, mode="rb"))
    if kind == BZIP2:
        return cast(BinaryIO, bz2.BZ2File(f, "rb"))
    if kind == XZ:
        return cast(BinaryIO, lzma.LZMAFile(f, "rb"))
    try:
        zstd: Any = importlib.import_module("zstandard")
    except ImportError:
        raise InvalidArchive(
            f"{what} is zstd-compressed and this host has no zstd support (pip install zstandard)"
        ) from None
    return cast(BinaryIO, zstd.ZstdDecompressor().stream_reader(f, closefd=True))


class PeekReader:
    """A reader over a non-seekable stream that lets the caller peek at the first bytes."""

    def __init__(self, raw: BinaryIO, n: int = 6) -> None:
        self.raw = raw
        self.head = b""
        while len(self.head) < n:
            chunk = raw.read(n - len(self.head))
            if not chunk:
                break
            self.head += chunk

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size is None or size < 0:
                out, self.head = self.head + self.raw.read(), b""
                return out
            out, self.head = self.head[:size], self.head[size:]
            if len(out) < size:
                out += self.raw.read(size - len(out))
            return out
        return self.raw.read(size)

    def close(self) -> None:
        self.raw.close()


class _Stream(io.RawIOBase):
    """A closeable file object over a decompressing reader; closing it closes the source."""

    def __init__(self, reader: BinaryIO, source: BinaryIO) -> None:
        super().__init__()
        self.reader, self.source = reader, source

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self.reader.read(-1 if size is None else size)

    def readinto(self, b: Any) -> int:
        data = self.reader.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self.reader.close()
            finally:
                self.source.close()
        super().close()


def open_uncompressed(raw: BinaryIO, what: str = "layer") -> BinaryIO:
    """Return a file object reading RAW's uncompressed content; closing it closes RAW."""
    peek = PeekReader(raw)
    reader = decompressor(cast(BinaryIO, peek), detect(peek.head), what)
    return cast(BinaryIO, _Stream(reader, raw))


def diff_id_of(f: BinaryIO, what: str = "layer") -> tuple[str, int, str]:
    """Read a (maybe compressed) layer blob; return (diff id, uncompressed size, compression)."""
    peek = PeekReader(f)
    kind = detect(peek.head)
    reader = decompressor(cast(BinaryIO, peek), kind, what)
    h = hashlib.sha256()
    n = 0
    try:
        while chunk := reader.read(dg.CHUNK):
            h.update(chunk)
            n += len(chunk)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise InvalidArchive(f"{what}: cannot decompress ({kind}): {exc}") from exc
    return f"{dg.ALGORITHM}:{h.hexdigest()}", n, kind
