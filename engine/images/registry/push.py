"""Push an image: each blob is skipped (HEAD says it exists), mounted from another
repository of the same registry, or uploaded in chunks; then the manifest is PUT.

Upload: POST blobs/uploads/ -> 202 Location; PATCH Location with each chunk and
Content-Range: start-end; PUT Location?digest=... to close it (201).
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote, urljoin

from shoal.engine.images import digest as dg
from shoal.engine.images.blobs import BlobStore
from shoal.engine.images.model import Image
from shoal.engine.images.registry import progress as pg
from shoal.engine.images.registry.errors import RegistryServerError
from shoal.engine.images.registry.sources import SourceStore
from shoal.engine.images.registry.transport import RepoClient

CHUNK = 8 << 20
CONCURRENCY = 5  # dockerd's default max-concurrent-uploads


async def blob_exists(client: RepoClient, digest: str) -> bool:
    async with await client.request(
        "HEAD", f"blobs/{digest}", ok=(200, 404), what=f"blob {digest}"
    ) as resp:
        return resp.status == 200


def _location(client: RepoClient, resp_location: str | None) -> str:
    if not resp_location:
        raise RegistryServerError(f"registry {client.repo}: upload answer has no Location")
    return urljoin(client.endpoint.base_url, resp_location)


async def _try_mount(client: RepoClient, digest: str, source: str) -> tuple[bool, str | None]:
    """Ask for a cross-repository mount; return (mounted, upload location if not)."""
    sub = f"blobs/uploads/?mount={quote(digest)}&from={quote(source)}"
    async with await client.request("POST", sub, ok=(201, 202), what=f"mount of {digest}") as r:
        if r.status == 201:
            return True, None
        return False, _location(client, r.headers.get("Location"))


async def upload(
    client: RepoClient, blobs: BlobStore, digest: str, location: str | None,
    prog: pg.LayerProgress | None,
) -> None:
    """Upload a stored blob in chunks (PATCH with Content-Range), then PUT ?digest=."""
    if location is None:
        async with await client.request(
            "POST", "blobs/uploads/", ok=(202,), what=f"upload of {digest}"
        ) as r:
            location = _location(client, r.headers.get("Location"))
    size = blobs.size(digest)
    offset = 0
    with blobs.open(digest) as f:
        while offset < size:
            chunk = await asyncio.to_thread(f.read, CHUNK)
            if not chunk:
                break
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
            }
            async with await client.request(
                "PATCH", location, headers=headers, data=chunk, ok=(202,),
                what=f"upload of {digest}",
            ) as r:
                location = _location(client, r.headers.get("Location"))
            offset += len(chunk)
            if prog is not None:
                prog.update(offset)
    sep = "&" if "?" in location else "?"
    async with await client.request(
        "PUT", f"{location}{sep}digest={quote(digest)}",
        headers={"Content-Type": "application/octet-stream"}, data=b"", ok=(201, 204),
        what=f"upload of {digest}",
    ):
        pass


async def push_blob(
    client: RepoClient, blobs: BlobStore, sources: SourceStore, digest: str,
    emit: pg.Emit | None, sem: asyncio.Semaphore,
) -> None:
    """Make sure the registry's repository has blob DIGEST, reporting as docker push does."""
    show = emit if emit is not None else (lambda _m: None)
    show(pg.layer_status("Preparing", digest))
    show(pg.layer_status("Waiting", digest))
    async with sem:
        if await blob_exists(client, digest):
            show(pg.layer_status("Layer already exists", digest))
            return
        location = None
        source = sources.mount_from(digest, client.endpoint.host, client.path)
        if source is not None:
            mounted, location = await _try_mount(client, digest, source)
            if mounted:
                show(pg.layer_status(f"Mounted from {source}", digest))
                return
        prog = pg.LayerProgress(show, "Pushing", digest, blobs.size(digest))
        await upload(client, blobs, digest, location, prog if emit else None)
        show(pg.layer_status("Pushed", digest))


async def push_image(
    client: RepoClient, blobs: BlobStore, sources: SourceStore, img: Image, tag: str,
    emit: pg.Emit,
) -> tuple[str, int]:
    """Push IMG's blobs and manifest as TAG; return (manifest digest, manifest size)."""
    data = blobs.read(img.manifest_digest)
    media_type = str(json.loads(data).get("mediaType") or "")
    sem = asyncio.Semaphore(CONCURRENCY)
    layers = [layer.digest for layer in reversed(img.layers)]  # docker lists the top first
    tasks = [asyncio.ensure_future(push_blob(client, blobs, sources, d, emit, sem))
             for d in dict.fromkeys(layers)]
    tasks.append(asyncio.ensure_future(push_blob(client, blobs, sources, img.id, None, sem)))
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    headers = {"Content-Type": media_type or "application/vnd.oci.image.manifest.v1+json"}
    async with await client.request(
        "PUT", f"manifests/{tag}", headers=headers, data=data, ok=(201, 200),
        what=f"manifest {client.repo}:{tag}",
    ):
        pass
    sources.add([*layers, img.id], client.repo)
    return dg.of_bytes(data), len(data)
