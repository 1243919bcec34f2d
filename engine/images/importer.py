"""`docker import`: turn a rootfs tarball into a one-layer image's layer and config."""

from __future__ import annotations

import hashlib
import os
import platform
import tarfile
import tempfile
from typing import Any, BinaryIO, cast

from shoal.engine.images import compression
from shoal.engine.images import digest as dg
from shoal.engine.images.blobs import BlobStore
from shoal.engine.images.changes import apply_changes
from shoal.engine.images.errors import InvalidArchive
from shoal.engine.images.model import OCI_LAYER, Layer, now_rfc3339

_GO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def host_platform() -> tuple[str, str]:
    """Return this host's (os, architecture) in Go's names (linux, amd64)."""
    machine = platform.machine().lower()
    return "linux", _GO_ARCH.get(machine, machine)


class _HashingTee:
    """Read from a stream, copy what is read to a file and hash it."""

    def __init__(self, src: BinaryIO, out: BinaryIO) -> None:
        self.src, self.out = src, out
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.hash.update(data)
        self.out.write(data)
        self.size += len(data)
        return data


def ingest_rootfs(src: BinaryIO, blobs: BlobStore, new: set[str] | None = None) -> Layer:
    """Store the rootfs tar SRC (maybe compressed) as an uncompressed, pinned layer blob.

    The stream is checked to be a tar archive while it is copied. Raise InvalidArchive
    if it is not.
    """
    reader = compression.open_uncompressed(src, "import")
    fd, tmp = tempfile.mkstemp(dir=blobs.tmp, prefix="import-")
    try:
        with os.fdopen(fd, "wb") as out:
            tee = _HashingTee(reader, cast(BinaryIO, out))
            try:
                with tarfile.open(fileobj=cast(Any, tee), mode="r|") as tar:
                    for _member in tar:
                        pass
                while tee.read(dg.CHUNK):
                    pass
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise InvalidArchive(f"import: the source is not a tar archive: {exc}") from exc
    except BaseException:
        os.unlink(tmp)
        raise
    diff_id = f"{dg.ALGORITHM}:{tee.hash.hexdigest()}"
    blobs.commit_file(tmp, diff_id, pin=True, new=new)
    return Layer(diff_id, diff_id, tee.size, OCI_LAYER, tee.size)


def build_config(
    layer: Layer, changes: list[str], message: str, source: str = "-"
) -> dict[str, Any]:
    """Return the image config of an imported rootfs (changes applied, one history entry)."""
    os_name, arch = host_platform()
    container_config = apply_changes({}, changes)
    created = now_rfc3339()
    return {
        "architecture": arch,
        "os": os_name,
        "created": created,
        "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [{"created": created, "comment": message or f"Imported from {source}"}],
    }
