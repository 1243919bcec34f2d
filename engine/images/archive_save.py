"""Write image archives: docker-archive (as Docker 25+ writes it) and OCI image layout tars.

docker: manifest.json + an OCI layout (oci-layout, index.json, blobs/sha256/...)
        with uncompressed layers, so both `docker load` (any version) and OCI
        tools read it.
oci:    an OCI image layout with the blobs as stored (layers maybe compressed).
Both stream to DEST: the tar is written once, front to back.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from shoal.engine.images import compression, manifest
from shoal.engine.images import digest as dg
from shoal.engine.images.blobs import BlobStore
from shoal.engine.images.errors import InvalidArgument
from shoal.engine.images.model import OCI_LAYER, Image, Layer
from shoal.engine.images.reference import Reference

FORMATS = ("docker", "oci")


@dataclass
class SaveItem:
    """One image to save and the references to name it by (none when saved by id)."""

    image: Image
    refs: list[Reference] = field(default_factory=list)


class _Writer:
    def __init__(self, dest: BinaryIO) -> None:
        self.tar = tarfile.open(fileobj=cast(Any, dest), mode="w|", format=tarfile.PAX_FORMAT)
        self.written: set[str] = set()
        for d in ("blobs/", "blobs/sha256/"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            self.tar.addfile(info)

    def add(self, name: str, size: int, f: BinaryIO | None, data: bytes = b"") -> None:
        if name in self.written:
            return
        self.written.add(name)
        info = tarfile.TarInfo(name)
        info.size, info.mode = size, 0o644
        self.tar.addfile(info, f if f is not None else io.BytesIO(data))

    def add_bytes(self, name: str, data: bytes) -> None:
        self.add(name, len(data), None, data)

    def add_blob(self, blobs: BlobStore, digest: str) -> None:
        with blobs.open(digest) as raw:
            self.add(f"blobs/sha256/{dg.hex_of(digest)}", blobs.size(digest), raw)

    def add_uncompressed_layer(self, blobs: BlobStore, layer: Layer) -> None:
        name = f"blobs/sha256/{dg.hex_of(layer.diff_id)}"
        if name in self.written:
            return
        with blobs.open(layer.digest) as raw:
            self.add(name, layer.uncompressed_size, compression.open_uncompressed(raw))

    def close(self) -> None:
        self.tar.close()


def _uncompressed_manifest(image: Image, blobs: BlobStore) -> bytes:
    layers = [
        Layer(lay.diff_id, lay.diff_id, lay.uncompressed_size, OCI_LAYER, lay.uncompressed_size)
        for lay in image.layers
    ]
    return manifest.build_manifest(image.id, blobs.size(image.id), layers)


def write_archive(items: list[SaveItem], blobs: BlobStore, dest: BinaryIO, fmt: str) -> None:
    """Write ITEMS to DEST as a FMT ("docker" or "oci") archive."""
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown archive format {fmt!r} (want docker or oci)")
    w = _Writer(dest)
    index: list[dict[str, Any]] = []
    docker_manifest: list[dict[str, Any]] = []
    for item in items:
        img = item.image
        w.add_blob(blobs, img.id)
        if fmt == "docker":
            for layer in img.layers:
                w.add_uncompressed_layer(blobs, layer)
            m = _uncompressed_manifest(img, blobs)
        else:
            for layer in img.layers:
                w.add_blob(blobs, layer.digest)
            m = blobs.read(img.manifest_digest)
        w.add_bytes(f"blobs/sha256/{dg.hex_of(dg.of_bytes(m))}", m)
        index += [manifest.index_entry(m, r) for r in item.refs] or [manifest.index_entry(m, None)]
        docker_manifest.append(
            {
                "Config": f"blobs/sha256/{dg.hex_of(img.id)}",
                "RepoTags": [r.familiar() for r in item.refs if r.tag is not None] or None,
                "Layers": [f"blobs/sha256/{dg.hex_of(layer.diff_id)}" for layer in img.layers],
            }
        )
    w.add_bytes("oci-layout", manifest.layout_file())
    w.add_bytes("index.json", manifest.build_index(index))
    if fmt == "docker":
        w.add_bytes("manifest.json", manifest.to_json(docker_manifest))
    w.close()
