"""Pull an image: manifest (by tag or digest; an index resolves to linux/amd64), config, layers.

Every blob is hashed while it streams into the content store's tmp/ and is
renamed into place only when its digest matches; layers are fetched 3 at a
time, as dockerd does, and blobs already stored are not fetched again. The
whole pull runs inside ImageService.ingest(), so a failure deletes what it wrote.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from shoal.engine.images import compression, manifest
from shoal.engine.images import digest as dg
from shoal.engine.images.errors import BlobNotFound, InvalidArchive, LayerNotFound
from shoal.engine.images.layout import pick_platform
from shoal.engine.images.model import DOCKER_LAYER, INDEX_TYPES, MANIFEST_TYPES, OCI_LAYER, Layer
from shoal.engine.images.reference import Reference
from shoal.engine.images.registry import progress as pg
from shoal.engine.images.registry.errors import (
    RegistryDigestMismatch,
    UnsupportedManifest,
)
from shoal.engine.images.registry.transport import RepoClient
from shoal.engine.images.service import ImageService

CONCURRENCY = 3
MAX_MANIFEST = 4 << 20
MAX_CONFIG = 16 << 20
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
PLATFORM = ("linux", "amd64")


@dataclass
class Fetched:
    """A manifest as served: its bytes, media type and digest."""

    data: bytes
    media_type: str
    digest: str


async def fetch_manifest(client: RepoClient, ref: str, what: str) -> Fetched:
    """GET a manifest by tag or digest; check it against the digest when asked by digest."""
    async with await client.request(
        "GET", f"manifests/{ref}", headers={"Accept": ACCEPT}, what=what
    ) as resp:
        data = await resp.content.read(MAX_MANIFEST + 1)
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
    if len(data) > MAX_MANIFEST:
        raise UnsupportedManifest(f"{what}: manifest larger than {MAX_MANIFEST} bytes")
    digest = dg.of_bytes(data)
    if dg.is_digest(ref) and digest != ref:
        raise RegistryDigestMismatch(
            f"manifest {ref} from {client.repo}: content hashes to {digest}")
    return Fetched(data, media_type, digest)


def _parse(fetched: Fetched, what: str) -> tuple[dict[str, Any], str]:
    try:
        doc = json.loads(fetched.data)
    except ValueError:
        raise UnsupportedManifest(f"{what}: manifest is not JSON") from None
    if not isinstance(doc, dict):
        raise UnsupportedManifest(f"{what}: manifest is not a JSON object")
    if doc.get("schemaVersion") == 1:
        raise UnsupportedManifest(f"{what}: Docker schema 1 manifests are not supported")
    mt = fetched.media_type
    if mt not in (*MANIFEST_TYPES, *INDEX_TYPES):
        mt = str(doc.get("mediaType") or "")
    try:
        return doc, manifest.kind_of(doc, mt)
    except InvalidArchive as exc:
        raise UnsupportedManifest(f"{what}: {exc}") from None


async def resolve_manifest(client: RepoClient, ref: Reference) -> tuple[Fetched, Fetched]:
    """Return (what REF names, the linux/amd64 image manifest); equal unless REF is an index."""
    what = f"manifest for {ref}"
    top = await fetch_manifest(client, ref.digest or ref.tag or "latest", what)
    doc, kind = _parse(top, what)
    if kind == "manifest":
        return top, top
    try:
        _, digest, _ = pick_platform(doc, PLATFORM, what)
    except InvalidArchive as exc:
        raise UnsupportedManifest(str(exc)) from None
    image = await fetch_manifest(client, digest, f"manifest {digest} of {ref}")
    if _parse(image, what)[1] != "manifest":
        raise UnsupportedManifest(f"{what}: index entry {digest} is not an image manifest")
    return top, image


async def download_blob(
    client: RepoClient, svc: ImageService, digest: str, new: set[str],
    prog: pg.LayerProgress | None = None,
) -> int:
    """Stream blob DIGEST into the content store, verified; return its size."""
    fd, tmp = tempfile.mkstemp(dir=svc.blobs.tmp, prefix="pull-")
    h = hashlib.sha256()
    n = 0
    try:
        with os.fdopen(fd, "wb") as f:
            async with await client.request(
                "GET", f"blobs/{digest}", what=f"blob {digest} of {client.repo}"
            ) as resp:
                async for chunk in resp.content.iter_chunked(1 << 20):
                    h.update(chunk)
                    f.write(chunk)
                    n += len(chunk)
                    if prog is not None:
                        prog.update(n)
        got = f"{dg.ALGORITHM}:{h.hexdigest()}"
        if got != digest:
            raise RegistryDigestMismatch(
                f"blob {digest} from {client.repo}: content hashes to {got}")
    except BaseException:
        os.unlink(tmp)
        raise
    svc.blobs.commit_file(tmp, digest, new=new)
    return n


def _known_layer(svc: ImageService, digest: str, diff_id: str) -> Layer | None:
    try:
        layer = svc.find_layer(digest)
    except LayerNotFound:
        return None
    return layer if layer.diff_id == diff_id else None


def _describe_layer(svc: ImageService, digest: str, diff_id: str, media_type: str,
                    size: int) -> Layer:
    """Check a stored layer blob's uncompressed digest against the config's diff id."""
    if digest == diff_id:
        return Layer(diff_id, digest, size, media_type or OCI_LAYER, size)
    with svc.blobs.open(digest) as f:
        actual, usize, _ = compression.diff_id_of(f, f"layer {digest}")
    if actual != diff_id:
        raise RegistryDigestMismatch(
            f"layer {digest}: uncompressed content hashes to {actual}, the config lists {diff_id}")
    return Layer(diff_id, digest, size, media_type or DOCKER_LAYER, usize)


async def _layer(
    client: RepoClient, svc: ImageService, desc: Any, diff_id: str,
    pinned: list[str], new: set[str], emit: pg.Emit, sem: asyncio.Semaphore,
) -> Layer:
    media_type, digest, size = manifest.descriptor(desc, "layer")
    svc.blobs.pin([digest])  # before the existence check: no removal can race us
    pinned.append(digest)
    if svc.blobs.exists(digest):
        emit(pg.layer_status("Already exists", digest))
        known = _known_layer(svc, digest, diff_id)
        if known is not None:
            return known
        return await asyncio.to_thread(_describe_layer, svc, digest, diff_id, media_type, size)
    async with sem:
        prog = pg.LayerProgress(emit, "Downloading", digest, size)
        n = await download_blob(client, svc, digest, new, prog)
        prog.update(n, force=True)
        emit(pg.layer_status("Verifying Checksum", digest))
        emit(pg.layer_status("Download complete", digest))
    layer = await asyncio.to_thread(_describe_layer, svc, digest, diff_id, media_type, n)
    emit(pg.layer_status("Pull complete", digest))
    return layer


async def fetch_image(
    client: RepoClient, svc: ImageService, image: Fetched,
    pinned: list[str], new: set[str], emit: pg.Emit,
) -> tuple[str, list[Layer]]:
    """Store IMAGE's config and layers (inside an ingest); return (config digest, layers)."""
    doc = json.loads(image.data)
    what = f"manifest {image.digest}"
    try:
        _, config_digest, config_size = manifest.descriptor(doc.get("config"), what)
        descs = doc.get("layers")
        if not isinstance(descs, list):
            raise InvalidArchive(f"{what}: no layers")
        for d in descs:
            manifest.descriptor(d, what)
            emit(pg.layer_status("Pulling fs layer", d["digest"]))
    except InvalidArchive as exc:
        raise UnsupportedManifest(str(exc)) from None
    if config_size > MAX_CONFIG:
        raise UnsupportedManifest(f"{what}: config of {config_size} bytes is too large")
    svc.blobs.pin([config_digest])
    pinned.append(config_digest)
    if not svc.blobs.exists(config_digest):
        await download_blob(client, svc, config_digest, new)
    try:
        config = json.loads(svc.blobs.read(config_digest))
        diff_ids = manifest.diff_ids(config, f"config {config_digest}")
    except (ValueError, InvalidArchive, BlobNotFound) as exc:
        raise UnsupportedManifest(f"image config {config_digest}: {exc}") from None
    if len(diff_ids) != len(descs):
        raise UnsupportedManifest(
            f"{what}: {len(descs)} layers but its config lists {len(diff_ids)} diff ids")
    sem = asyncio.Semaphore(CONCURRENCY)
    tasks = [
        asyncio.ensure_future(_layer(client, svc, d, i, pinned, new, emit, sem))
        for d, i in zip(descs, diff_ids, strict=True)
    ]
    try:
        layers = await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    svc.blobs.put(image.data, expected=image.digest, pin=True, new=new)
    pinned.append(image.digest)
    return config_digest, list(layers)
