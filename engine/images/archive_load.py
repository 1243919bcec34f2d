"""Read image archives: docker-archive (`docker save`, any version) and OCI image layouts.

The tar is read once, as a stream: every regular file goes into the blob store
(pinned, so no collection deletes it meanwhile) and small ones are also kept in
memory. Then the format is recognised (manifest.json means docker-archive, which
Docker 25+ also makes an OCI layout; else oci-layout + index.json) and each image
is checked: blob digests, config diff ids against the layers' content.
"""

from __future__ import annotations

import posixpath
import tarfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from shoal.engine.images import compression, manifest
from shoal.engine.images import digest as dg
from shoal.engine.images import reference as refs
from shoal.engine.images.blobs import BlobStore
from shoal.engine.images.errors import InvalidArchive, InvalidReference
from shoal.engine.images.importer import host_platform
from shoal.engine.images.layout import pick_platform
from shoal.engine.images.model import (
    ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME,
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    Layer,
)
from shoal.engine.images.reference import Reference

SMALL = 8 << 20  # files kept in memory too (manifests, configs, index.json)
_MEDIA_BY_COMPRESSION = {
    compression.NONE: OCI_LAYER,
    compression.GZIP: OCI_LAYER_GZIP,
    compression.ZSTD: OCI_LAYER_ZSTD,
}


@dataclass
class Candidate:
    """An image found in an archive, its blobs already stored."""

    config_digest: str
    layers: list[Layer]
    manifest_digest: str
    names: list[Reference] = field(default_factory=list)


@dataclass
class Archive:
    """What reading an archive stored: files by name, and the blobs it pinned or created."""

    files: dict[str, str] = field(default_factory=dict)  # name -> digest
    small: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # name -> target name
    pinned: list[str] = field(default_factory=list)
    new: set[str] = field(default_factory=set)

    def digest_of(self, name: str, what: str) -> str:
        name = _clean(name)
        for _ in range(16):
            if name in self.files:
                return self.files[name]
            if name not in self.links:
                break
            name = self.links[name]
        raise InvalidArchive(f"{what}: {name!r} is not in the archive")

    def bytes_of(self, name: str, blobs: BlobStore, what: str) -> bytes:
        d = self.digest_of(name, what)
        return self.small.get(_clean(name)) or blobs.read(d)


def _clean(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


def read_archive(src: BinaryIO, blobs: BlobStore, arc: Archive) -> None:
    """Store every file of the tar stream SRC, indexing them in ARC.

    The caller unpins ARC.pinned and collects ARC.new, whether this succeeds or not.
    """
    try:
        with tarfile.open(fileobj=cast(Any, src), mode="r|*") as tar:
            for m in tar:
                name = _clean(m.name)
                if m.isreg():
                    f = tar.extractfile(m)
                    assert f is not None
                    if m.size <= SMALL:
                        data = f.read()
                        arc.small[name] = data
                        d = blobs.put(data, pin=True, new=arc.new)
                    else:
                        d, _ = blobs.ingest(cast(BinaryIO, f), pin=True, new=arc.new)
                    arc.pinned.append(d)
                    arc.files[name] = d
                elif m.issym():
                    arc.links[name] = _clean(posixpath.join(posixpath.dirname(name), m.linkname))
                elif m.islnk():
                    arc.links[name] = _clean(m.linkname)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidArchive(f"load: not a valid tar archive: {exc}") from exc


def _layer(blobs: BlobStore, blob: str, diff_id: str, media_type: str, what: str) -> Layer:
    size = blobs.size(blob)
    if blob == diff_id:
        return Layer(diff_id, blob, size, media_type or OCI_LAYER, size)
    with blobs.open(blob) as f:
        actual, usize, kind = compression.diff_id_of(f, what)
    if actual != diff_id:
        raise InvalidArchive(
            f"{what}: uncompressed content has digest {actual} but the config lists {diff_id}"
        )
    if not media_type or media_type in (DOCKER_LAYER, DOCKER_LAYER_GZIP):
        media_type = _MEDIA_BY_COMPRESSION.get(kind, media_type or OCI_LAYER)
    return Layer(diff_id, blob, size, media_type, usize)


def _names(values: Any, what: str) -> list[Reference]:
    out = []
    for v in values or []:
        try:
            out.append(refs.parse(str(v)))
        except InvalidReference as exc:
            raise InvalidArchive(f"{what}: bad image name {v!r}: {exc}") from None
    return out


def load_docker(arc: Archive, blobs: BlobStore) -> list[Candidate]:
    """Read the images of a docker-archive (manifest.json)."""
    entries = manifest.loads(arc.small.get("manifest.json", b""), "manifest.json")
    if not isinstance(entries, list):
        raise InvalidArchive("manifest.json: want a list of images")
    out = []
    for i, e in enumerate(entries):
        what = f"manifest.json entry {i}"
        if not isinstance(e, dict) or not isinstance(e.get("Config"), str):
            raise InvalidArchive(f"{what}: no Config")
        config_digest = arc.digest_of(e["Config"], what)
        config = manifest.loads(arc.bytes_of(e["Config"], blobs, what), f"{what} config")
        diff_ids = manifest.diff_ids(config, what)
        names = e.get("Layers") or []
        if len(names) != len(diff_ids):
            raise InvalidArchive(
                f"{what}: {len(names)} layers but the config lists {len(diff_ids)} diff ids"
            )
        layers = [
            _layer(blobs, arc.digest_of(n, what), d, "", f"layer {n}")
            for n, d in zip(names, diff_ids, strict=True)
        ]
        m = manifest.build_manifest(config_digest, blobs.size(config_digest), layers)
        md = blobs.put(m, pin=True, new=arc.new)
        arc.pinned.append(md)
        out.append(Candidate(config_digest, layers, md, _names(e.get("RepoTags"), what)))
    return out


def _blob(arc: Archive, digest: str, size: int, what: str) -> str:
    name = f"blobs/sha256/{dg.hex_of(digest)}"
    actual = arc.digest_of(name, what)
    if actual != digest:
        raise InvalidArchive(f"{what}: {name} has digest {actual}, not {digest}")
    return actual


def _oci_names(annotations: Any) -> list[Reference]:
    a = annotations if isinstance(annotations, dict) else {}
    full = a.get(ANNOTATION_IMAGE_NAME)
    if full:
        return _names([full], "index.json")
    name = str(a.get(ANNOTATION_REF_NAME) or "")
    # A bare tag ("latest", as umoci and Docker write) names no repository.
    if name and any(c in name for c in "/:@"):
        return _names([name], "index.json")
    return []


def load_oci(arc: Archive, blobs: BlobStore) -> list[Candidate]:
    """Read the images of an OCI image layout (oci-layout + index.json)."""
    layout = manifest.loads(arc.small.get("oci-layout", b"{}"), "oci-layout")
    if not isinstance(layout, dict) or "imageLayoutVersion" not in layout:
        raise InvalidArchive("oci-layout: no imageLayoutVersion")
    index = manifest.loads(arc.small.get("index.json", b""), "index.json")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise InvalidArchive("index.json: no manifests list")
    out: dict[str, Candidate] = {}
    for i, desc in enumerate(index["manifests"]):
        what = f"index.json manifest {i}"
        media_type, digest, size = manifest.descriptor(desc, what)
        for _ in range(4):  # follow nested indexes down to an image manifest
            doc = manifest.loads(blobs.read(_blob(arc, digest, size, what)), f"{what} {digest}")
            if manifest.kind_of(doc, media_type) == "manifest":
                break
            media_type, digest, size = pick_platform(doc, host_platform(), what)
        else:
            raise InvalidArchive(f"{what}: indexes nested too deep")
        _, config_digest, config_size = manifest.descriptor(doc.get("config"), f"{what} config")
        _blob(arc, config_digest, config_size, f"{what} config")
        config = manifest.loads(blobs.read(config_digest), f"{what} config")
        diff_ids = manifest.diff_ids(config, what)
        descs = doc.get("layers") or []
        if len(descs) != len(diff_ids):
            raise InvalidArchive(
                f"{what}: {len(descs)} layers but the config lists {len(diff_ids)} diff ids"
            )
        layers = []
        for ld, diff_id in zip(descs, diff_ids, strict=True):
            lt, ldig, lsize = manifest.descriptor(ld, f"{what} layer")
            _blob(arc, ldig, lsize, f"{what} layer")
            layers.append(_layer(blobs, ldig, diff_id, lt, f"layer {dg.describe(ldig)}"))
        c = out.setdefault(config_digest, Candidate(config_digest, layers, digest))
        c.names += [n for n in _oci_names(desc.get("annotations")) if n not in c.names]
    return list(out.values())


def candidates(arc: Archive, blobs: BlobStore) -> list[Candidate]:
    """Recognise the archive's format and return its images."""
    if "manifest.json" in arc.small:
        return load_docker(arc, blobs)
    if "index.json" in arc.small:
        return load_oci(arc, blobs)
    raise InvalidArchive(
        "load: neither a docker-archive (no manifest.json) nor an OCI image layout (no index.json)"
    )
