"""The image service: image records, names and the operations of `docker image ...`.

Layout under ROOT:

    blobs/sha256/<hex>     content store: configs, manifests, layer tars
    images/<id hex>.json   one record per image: manifest digest, layers, last tag time
    repositories.json      tag and digest references -> image id
    tmp/                   blobs being written
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from shoal.engine.images import archive_load, compression, importer, manifest, render
from shoal.engine.images import digest as dg
from shoal.engine.images import reference as refmod
from shoal.engine.images.archive_save import SaveItem, write_archive
from shoal.engine.images.blobs import BlobStore
from shoal.engine.images.changes import apply_changes
from shoal.engine.images.errors import (
    AmbiguousImageID,
    ImageNotFound,
    InvalidArgument,
    InvalidReference,
    LayerNotFound,
)
from shoal.engine.images.model import Image, Layer, now_rfc3339
from shoal.engine.images.records import Record, RecordStore
from shoal.engine.images.reference import Reference
from shoal.engine.images.refstore import ReferenceStore
from shoal.engine.images.removal import InUse
from shoal.engine.images.removal import remove as remove_image

Source = BinaryIO | Path


@contextlib.contextmanager
def _reader(src: Source) -> Iterator[BinaryIO]:
    if isinstance(src, (str, Path)):
        with open(src, "rb") as f:
            yield f
    else:
        yield src


@contextlib.contextmanager
def _writer(dest: Source) -> Iterator[BinaryIO]:
    if isinstance(dest, (str, Path)):
        with open(dest, "wb") as f:
            yield f
    else:
        yield dest


class ImageService:
    """Store, name, import, load, save and remove images under ROOT (thread-safe)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = BlobStore(self.root)
        self.blobs.clean_tmp()
        self.records = RecordStore(self.root / "images", self.blobs)
        self.refs = ReferenceStore(self.root / "repositories.json")
        self._lock = threading.RLock()
        self._records: dict[str, Record] = self.records.load_all()

    # -- lookup -----------------------------------------------------------------

    def _image(self, rec: Record) -> Image:
        return Image(
            id=rec.id,
            config=copy.deepcopy(rec.config),
            layers=[copy.copy(layer) for layer in rec.layers],
            repo_tags=self.refs.tags_of(rec.id),
            repo_digests=self.refs.digests_of(rec.id),
            manifest_digest=rec.manifest,
            last_tag_time=rec.last_tag_time,
        )

    def _resolve(self, ref_or_id: str) -> str:
        """Return the id of the image REF_OR_ID names (full id, reference or id prefix)."""
        s = ref_or_id.strip()
        if dg.is_digest(s) or dg.is_hex64(s):
            full = s if s.startswith("sha256:") else f"sha256:{s}"
            if full in self._records:
                return full
            raise ImageNotFound(ref_or_id)
        ref = refmod.try_parse(s)
        if ref is not None:
            image_id = self.refs.get(ref)
            if image_id is None and ref.digest is not None and ref.tag is not None:
                image_id = self.refs.get(ref.with_digest(ref.digest))  # NAME:TAG@DIGEST
            if image_id is None and ref.digest is not None:
                image_id = next(
                    (r.id for r in self._records.values() if r.manifest == ref.digest), None
                )
            if image_id in self._records:
                return image_id
        prefix = s.removeprefix("sha256:")
        if prefix and all(c in "0123456789abcdef" for c in prefix):
            hits = [i for i in self._records if dg.hex_of(i).startswith(prefix)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise AmbiguousImageID(f"short id {s!r} matches {len(hits)} images; give more")
        raise ImageNotFound(ref_or_id)

    def get(self, ref_or_id: str) -> Image:
        """Return the image named by a reference, a full id or a unique id prefix."""
        with self._lock:
            return self._image(self._records[self._resolve(ref_or_id)])

    def list(self) -> builtins.list[Image]:
        """Return every image, newest first."""
        with self._lock:
            images = [self._image(r) for r in self._records.values()]
        return sorted(images, key=lambda i: (i.created_unix, i.id), reverse=True)

    def exists(self, ref_or_id: str) -> bool:
        try:
            self.get(ref_or_id)
        except (ImageNotFound, AmbiguousImageID):
            return False
        return True

    # -- adding images ----------------------------------------------------------

    def _add(
        self,
        config_digest: str,
        layers: builtins.list[Layer],
        manifest_digest: str,
        names: builtins.list[Reference],
    ) -> Image:
        """Record an image whose blobs are stored; point NAMES at it. Caller holds the lock."""
        rec = self._records.get(config_digest)
        if rec is None:
            config = json.loads(self.blobs.read(config_digest))
            rec = Record(config_digest, config, layers, manifest_digest)
            self._records[config_digest] = rec
        for name in names:
            self.refs.set(name, config_digest)
        if names:
            rec.last_tag_time = now_rfc3339()
        self.records.write(rec)
        return self._image(rec)

    def _release(self, pinned: builtins.list[str], new: set[str]) -> None:
        """Unpin an ingest's blobs and delete those it created that no image uses."""
        self.blobs.unpin(pinned)
        with self._lock:
            used = self._referenced_blobs()
            for d in new - used:
                self.blobs.delete(d)

    @contextlib.contextmanager
    def ingest(self) -> Iterator[tuple[builtins.list[str], set[str]]]:
        """Yield (pinned, new) for a caller writing blobs; release them when done.

        Blobs put with ``pin=True, new=new`` and their digests appended to PINNED
        survive until the block ends; those in NEW that no image then uses are
        deleted, so a failed pull, push or build leaves nothing half-written.
        """
        pinned: builtins.list[str] = []
        new: set[str] = set()
        try:
            yield pinned, new
        finally:
            self._release(pinned, new)

    def add_image(
        self,
        config_digest: str,
        layers: builtins.list[Layer],
        manifest_digest: str,
        names: builtins.list[Reference] | None = None,
    ) -> Image:
        """Record an image whose config, manifest and layer blobs are stored; tag it NAMES."""
        with self._lock:
            return self._add(config_digest, layers, manifest_digest, list(names or []))

    def import_rootfs(
        self,
        src: Source,
        ref: str | None = None,
        changes: builtins.list[str] | None = None,
        message: str = "",
    ) -> Image:
        """Create a one-layer image from a rootfs tarball (maybe compressed), like `docker import`.

        CHANGES are Dockerfile instructions (CMD, ENV, ...) applied to the config.
        """
        name = refmod.parse(ref) if ref else None
        if name is not None and name.digest is not None:
            raise InvalidReference(f"cannot import as {ref!r}: a tag is needed, not a digest")
        apply_changes({}, list(changes or []))  # fail before reading the source
        source = str(src) if isinstance(src, (str, Path)) else "-"
        pinned: builtins.list[str] = []
        new: set[str] = set()
        try:
            with _reader(src) as f:
                layer = importer.ingest_rootfs(f, self.blobs, new)
            pinned.append(layer.digest)
            config = importer.build_config(layer, list(changes or []), message, source)
            config_bytes = manifest.to_json(config)
            config_digest = self.blobs.put(config_bytes, pin=True, new=new)
            pinned.append(config_digest)
            m = manifest.build_manifest(config_digest, len(config_bytes), [layer])
            pinned.append(self.blobs.put(m, pin=True, new=new))
            with self._lock:
                return self._add(config_digest, [layer], dg.of_bytes(m), [name] if name else [])
        finally:
            self._release(pinned, new)

    def load(self, src: Source) -> builtins.list[Image]:
        """Load every image of a docker-archive or OCI image layout tar (maybe compressed)."""
        arc = archive_load.Archive()
        try:
            with _reader(src) as f:
                archive_load.read_archive(f, self.blobs, arc)
            found = archive_load.candidates(arc, self.blobs)
            with self._lock:
                return [
                    self._add(c.config_digest, c.layers, c.manifest_digest, c.names) for c in found
                ]
        finally:
            self._release(arc.pinned, arc.new)

    # -- names and archives -----------------------------------------------------

    def tag(self, src: str, ref: str) -> Image:
        """Point the tag REF (":latest" if none) at the image SRC names."""
        target = refmod.parse(ref)
        if target.digest is not None:
            raise InvalidReference(f"refusing to create a tag with a digest reference: {ref}")
        with self._lock:
            rec = self._records[self._resolve(src)]
            return self._add(rec.id, rec.layers, rec.manifest, [target])

    def _save_items(self, names: builtins.list[str]) -> builtins.list[SaveItem]:
        items: dict[str, SaveItem] = {}
        for n in names:
            bare = refmod.try_parse(n, default_tag=False)
            chosen: builtins.list[tuple[str, Reference | None]] = []
            if bare is not None and bare.name_only():  # a repository: all its tags
                chosen = [
                    (i, r)
                    for r, i in self.refs.items()
                    if r.name == bare.name and r.tag is not None
                ]
            if not chosen:
                image_id = self._resolve(n)
                ref = refmod.try_parse(n)
                named = ref is not None and ref.tag is not None and self.refs.get(ref) == image_id
                chosen = [(image_id, ref if named else None)]
            for image_id, r in chosen:
                item = items.setdefault(image_id, SaveItem(self._image(self._records[image_id])))
                if r is not None and r not in item.refs:
                    item.refs.append(r)
        return list(items.values())

    def save(self, refs: builtins.list[str], dest: Source, fmt: str = "docker") -> None:
        """Write the named images to DEST as a docker-archive ("docker") or OCI layout ("oci")."""
        if not refs:
            raise InvalidArgument("save: no image named")
        with self._lock:
            items = self._save_items(refs)
            pinned = [d for it in items for d in self._records[it.image.id].blobs()]
            self.blobs.pin(pinned)  # keep them while writing outside the lock
        try:
            with _writer(dest) as out:
                write_archive(items, self.blobs, out, fmt)
        finally:
            self.blobs.unpin(pinned)

    # -- views and layers -------------------------------------------------------

    def inspect_json(self, img: Image) -> dict[str, Any]:
        return render.inspect_json(img)

    def summary_json(self, img: Image) -> dict[str, Any]:
        return render.summary_json(img)

    def history(self, img: Image) -> builtins.list[dict[str, Any]]:
        return render.history_json(img)

    def find_layer(self, diff_id_or_digest: str) -> Layer:
        """Return a stored layer by its diff id or its blob digest."""
        with self._lock:
            for rec in self._records.values():
                for layer in rec.layers:
                    if diff_id_or_digest in (layer.diff_id, layer.digest):
                        return copy.copy(layer)
        raise LayerNotFound(f"no image has a layer {diff_id_or_digest}")

    def open_layer(self, diff_id_or_digest: str) -> BinaryIO:
        """Open a layer's uncompressed tar stream (the caller closes it)."""
        layer = self.find_layer(diff_id_or_digest)
        return compression.open_uncompressed(self.blobs.open(layer.digest), "layer")

    # -- blob accounting (used by removal) ----------------------------------------

    def _referenced_blobs(self) -> set[str]:
        return {d for rec in self._records.values() for d in rec.blobs()}

    def _forget(self, image_id: str) -> None:
        """Forget an image record and delete its blobs no other image uses. Lock held."""
        rec = self._records.pop(image_id)
        self.records.delete(image_id)
        used = self._referenced_blobs()
        for d in rec.blobs():
            if d not in used:
                self.blobs.delete(d)

    def remove(
        self, ref_or_id: str, force: bool = False, in_use: InUse | None = None
    ) -> builtins.list[dict[str, str]]:
        """Untag or delete an image with Docker's `rmi` rules; return Docker's records.

        IN_USE(image_id) returns a truthy value (ideally the container's id) when a
        container uses the image: removal is then refused with ImageInUse unless FORCE.
        """
        with self._lock:
            image_id = self._resolve(ref_or_id)
            named = refmod.try_parse(ref_or_id.strip())
            if named is not None and self.refs.get(named) != image_id:
                named = None  # found by id prefix or manifest digest, not by a stored name
            return remove_image(image_id, named, self.refs, self._forget, force, in_use)

    # -- build: parents, intermediate images and prune (docs/build.md) ---------------
    # Each build step is an image whose record names the image it started from; an
    # untagged image that is another's parent is "intermediate" and hidden from lists.

    def set_parent(self, image_id: str, parent: str) -> None:
        """Record that IMAGE_ID was built on PARENT."""
        with self._lock:
            rec = self._records[self._resolve(image_id)]
            if rec.parent != parent:
                rec.parent = parent
                self.records.write(rec)

    def parent_of(self, image_id: str) -> str:
        """Return the id of the image IMAGE_ID was built on ("" if none is known)."""
        with self._lock:
            rec = self._records.get(image_id)
            return rec.parent if rec is not None and rec.parent in self._records else ""

    def list_top(self, all: bool = False) -> builtins.list[Image]:
        """Return the images `docker images` shows: intermediate ones only with ALL."""
        with self._lock:
            parents = {r.parent for r in self._records.values() if r.parent}
            recs = [
                r for r in self._records.values()
                if all or r.id not in parents or self.refs.of_image(r.id)
            ]
            images = [self._image(r) for r in recs]
        return sorted(images, key=lambda i: (i.created_unix, i.id), reverse=True)

    def prune(
        self, all: bool = False, in_use: InUse | None = None, built_only: bool = False
    ) -> tuple[builtins.list[dict[str, str]], int]:
        """Delete unused images; return Docker's records and the bytes freed.

        Dangling images (untagged, no child) go, then their parents that become
        dangling; with ALL, tagged images too. An image a container uses stays.
        BUILT_ONLY keeps images that no build made (no parent recorded).
        """
        out: builtins.list[dict[str, str]] = []
        freed = 0
        with self._lock:
            while True:
                parents = {r.parent for r in self._records.values() if r.parent}
                doomed = [
                    r for r in self._records.values()
                    if r.id not in parents
                    and (all or not self.refs.of_image(r.id))
                    and not (built_only and not r.parent)
                    and not (in_use is not None and in_use(r.id))
                ]
                if not doomed:
                    return out, freed
                for rec in doomed:
                    for ref in self.refs.of_image(rec.id):
                        self.refs.delete(ref)
                        out.append({"Untagged": ref.familiar()})
                    sizes = {d: self._blob_size(d) for d in rec.blobs()}
                    self._forget(rec.id)
                    freed += sum(n for d, n in sizes.items() if not self.blobs.exists(d))
                    out.append({"Deleted": rec.id})

    def _blob_size(self, digest: str) -> int:
        return self.blobs.size(digest) if self.blobs.exists(digest) else 0
