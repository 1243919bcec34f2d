"""The content-addressed blob store: root/blobs/sha256/<hex>.

Content is written to a temp file beside the store, hashed while written, checked
against the expected digest and renamed into place, so a blob path always holds
complete, verified content. Blobs being ingested by a load in progress can be
pinned so that a concurrent garbage collection does not delete them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from shoal.engine.images import digest as dg
from shoal.engine.images.errors import BlobNotFound, DigestMismatch


class BlobStore:
    """Store and fetch blobs by sha256 digest."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "blobs" / dg.ALGORITHM
        self.tmp = self.root / "tmp"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._pins: Counter[str] = Counter()

    def clean_tmp(self) -> None:
        """Delete temp files left by an ingest that was interrupted (call at startup)."""
        for p in self.tmp.iterdir():
            p.unlink(missing_ok=True)

    def path(self, digest: str) -> Path:
        """Return the path of a blob (which may not exist)."""
        return self.dir / dg.hex_of(dg.check_digest(digest))

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest} not found in the content store") from None

    def open(self, digest: str) -> BinaryIO:
        """Open a blob for reading; raise BlobNotFound if absent."""
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest} not found in the content store") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def put(
        self,
        data: bytes,
        expected: str | None = None,
        pin: bool = False,
        new: set[str] | None = None,
    ) -> str:
        """Store DATA; return its digest. Raise DigestMismatch if it is not EXPECTED."""
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix="put-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return self._commit(tmp, dg.of_bytes(data), expected, pin, new)

    def ingest(
        self,
        src: BinaryIO,
        expected: str | None = None,
        pin: bool = False,
        new: set[str] | None = None,
    ) -> tuple[str, int]:
        """Copy SRC to its end into the store; return (digest, size).

        Raise DigestMismatch (and keep nothing) if the content's digest is not EXPECTED.
        PIN keeps the blob from deletion until unpin(); NEW collects the digests of
        blobs this call created (rather than found already stored).
        """
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix="ingest-")
        h = hashlib.sha256()
        n = 0
        try:
            with os.fdopen(fd, "wb") as f:
                while chunk := src.read(dg.CHUNK):
                    h.update(chunk)
                    f.write(chunk)
                    n += len(chunk)
        except BaseException:
            os.unlink(tmp)
            raise
        return self._commit(tmp, f"{dg.ALGORITHM}:{h.hexdigest()}", expected, pin, new), n

    def commit_file(
        self, tmp: str, digest: str, pin: bool = False, new: set[str] | None = None
    ) -> str:
        """Move a temp file (in self.tmp) already hashed to DIGEST into the store."""
        return self._commit(tmp, digest, None, pin, new)

    def _commit(
        self, tmp: str, digest: str, expected: str | None, pin: bool, new: set[str] | None
    ) -> str:
        if expected is not None and digest != expected:
            os.unlink(tmp)
            raise DigestMismatch(
                f"blob {dg.describe(expected)}: content has digest {digest} (expected {expected})"
            )
        with self._lock:
            if pin:
                self._pins[digest] += 1
            dest = self.dir / dg.hex_of(digest)
            if dest.exists():
                os.unlink(tmp)
            else:
                os.chmod(tmp, 0o644)
                os.rename(tmp, dest)
                if new is not None:
                    new.add(digest)
        return digest

    def pin(self, digests: Iterable[str]) -> None:
        """Keep blobs from deletion until unpin() (for readers working outside a lock)."""
        with self._lock:
            for d in digests:
                self._pins[d] += 1

    def unpin(self, digests: Iterable[str]) -> None:
        """Release pins taken by put/ingest(pin=True)."""
        with self._lock:
            for d in digests:
                self._pins[d] -= 1
                if self._pins[d] <= 0:
                    del self._pins[d]

    def delete(self, digest: str) -> bool:
        """Delete a blob unless pinned; return whether it was deleted."""
        with self._lock:
            if self._pins.get(digest):
                return False
            try:
                self.path(digest).unlink()
            except FileNotFoundError:
                return False
            return True

    def digests(self) -> list[str]:
        """List every blob's digest."""
        return [f"{dg.ALGORITHM}:{p.name}" for p in self.dir.iterdir() if dg.is_hex64(p.name)]
