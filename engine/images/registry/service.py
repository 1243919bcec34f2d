"""The registry service: pull, push, login and digest resolution for the engine.

It owns what outlives one operation: the endpoint policy (insecure registries,
certs.d), remembered challenges and bearer tokens, and the blob sources used
for cross-repository mounts. Each operation opens its own aiohttp session
(kept-alive connections, released at the end).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from shoal.engine.images import reference as refmod
from shoal.engine.images.errors import InvalidReference
from shoal.engine.images.model import Image
from shoal.engine.images.reference import Reference
from shoal.engine.images.registry import endpoint as ep
from shoal.engine.images.registry import progress as pg
from shoal.engine.images.registry.credentials import Credentials, normalize_server
from shoal.engine.images.registry.errors import Unauthorized
from shoal.engine.images.registry.pull import ACCEPT, fetch_image, resolve_manifest
from shoal.engine.images.registry.push import push_image
from shoal.engine.images.registry.sources import SourceStore
from shoal.engine.images.registry.transport import AuthState, RepoClient
from shoal.engine.images.service import ImageService

TIMEOUT = aiohttp.ClientTimeout(total=None, connect=30, sock_read=300)


def _ignore(_m: pg.Message) -> None:
    return None


class RegistryService:
    """Move images between the local store and OCI distribution registries."""

    def __init__(self, images: ImageService, insecure: list[str], certs_dir: Path) -> None:
        self.images = images
        self.insecure = insecure
        self.certs_dir = Path(certs_dir)
        self.state = AuthState()
        self.sources = SourceStore(images.root / "registry-sources.json")

    def endpoint(self, host: str) -> ep.Endpoint:
        return ep.resolve(host, self.insecure, self.certs_dir)

    @contextlib.asynccontextmanager
    async def _client(self, ref: Reference, creds: Credentials, actions: str,
                      extra_scopes: list[str] | None = None) -> AsyncIterator[RepoClient]:
        scopes = [f"repository:{ref.path}:{actions}", *(extra_scopes or [])]
        connector = aiohttp.TCPConnector(limit=16)
        async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:
            yield RepoClient(session, self.endpoint(ref.domain), ref.path, creds, self.state,
                             scopes)

    async def resolve_digest(self, ref: str | Reference, creds: Credentials | None = None) -> str:
        """Return the manifest digest REF names on its registry (HEAD manifest; pulls nothing)."""
        r = refmod.parse(ref) if isinstance(ref, str) else ref
        if r.digest:
            return r.digest
        async with self._client(r, creds or Credentials(), "pull") as client:
            async with await client.request(
                "HEAD", f"manifests/{r.tag}", headers={"Accept": ACCEPT},
                what=f"manifest for {r}",
            ) as resp:
                digest = resp.headers.get("Docker-Content-Digest", "")
            if not digest:
                top, _ = await resolve_manifest(client, r)
                digest = top.digest
        return digest

    async def pull(self, ref: str, creds: Credentials | None = None,
                   emit: pg.Emit = _ignore) -> Image:
        """Pull REF (tag or digest) into the image store, emitting Docker's progress messages."""
        r = refmod.parse(ref)
        async with self._client(r, creds or Credentials(), "pull") as client:
            top, image = await resolve_manifest(client, r)
            emit(pg.status(f"Pulling from {r.familiar_name}", r.tag or r.digest or ""))
            before = self._image_id(r)
            with self.images.ingest() as (pinned, new):
                config_digest, layers = await fetch_image(client, self.images, image, pinned,
                                                          new, emit)
                names = [r.with_digest(top.digest)]
                if r.tag is not None:
                    names.insert(0, r)
                img = self.images.add_image(config_digest, layers, image.digest, names)
        self.sources.add([layer.digest for layer in layers] + [config_digest], client.repo)
        emit(pg.status(f"Digest: {top.digest}"))
        if before == img.id:
            emit(pg.status(f"Status: Image is up to date for {r.familiar()}"))
        else:
            emit(pg.status(f"Status: Downloaded newer image for {r.familiar()}"))
        return img

    def _image_id(self, r: Reference) -> str | None:
        try:
            return self.images.get(str(r)).id
        except Exception:
            return None

    def push_targets(self, name: str, tag: str = "") -> list[Reference]:
        """Return the references a push of NAME (and TAG; all its tags when none) covers."""
        r = refmod.parse(name, default_tag=False)
        if r.digest is not None:
            raise InvalidReference(f"cannot push a digest reference: {name}")
        if tag:
            if not refmod.is_valid_tag(tag):
                raise InvalidReference(f"invalid tag {tag!r}")
            return [r.with_tag(tag)]
        if r.tag is not None:
            return [r]
        tags = sorted({x for x in self._all_tags() if x.name == r.name}, key=str)
        if not tags:
            self.images.get(name)  # raises ImageNotFound
        return tags

    def _all_tags(self) -> list[Reference]:
        return [ref for ref, _ in self.images.refs.items() if ref.tag is not None]

    async def push(self, name: str, tag: str = "", creds: Credentials | None = None,
                   emit: pg.Emit = _ignore) -> list[tuple[str, str, int]]:
        """Push NAME[:TAG] (every tag of NAME when no tag); return (tag, digest, size) each."""
        out = []
        for target in self.push_targets(name, tag):
            img = self.images.get(str(target))
            mount_scopes = sorted({
                f"repository:{src}:pull" for layer in img.layers
                if (src := self.sources.mount_from(layer.digest, target.domain, target.path))
            })
            emit(pg.status(f"The push refers to repository [{target.name}]"))
            async with self._client(target, creds or Credentials(), "pull,push",
                                    mount_scopes) as client:
                pinned = [img.id, img.manifest_digest, *(x.digest for x in img.layers)]
                self.images.blobs.pin(pinned)
                try:
                    digest, size = await push_image(client, self.images.blobs, self.sources,
                                                    img, str(target.tag), emit)
                finally:
                    self.images.blobs.unpin(pinned)
            # like dockerd: the pushed manifest's digest becomes a RepoDigest of the image
            self.images.add_image(img.id, img.layers, img.manifest_digest,
                                  [target.with_digest(digest)])
            emit(pg.status(f"{target.tag}: digest: {digest} size: {size}"))
            emit({"progressDetail": {},
                  "aux": {"Tag": target.tag, "Digest": digest, "Size": size}})
            out.append((str(target.tag), digest, size))
        return out

    async def login(self, creds: Credentials) -> str:
        """Check CREDS against their registry (GET /v2/ answering its challenge).

        Return Docker's status text; raise Unauthorized when they are refused.
        """
        host = normalize_server(creds.server)
        end = self.endpoint(host)
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            client = RepoClient(session, end, "", creds, AuthState(), [])
            async with await client.request("GET", end.base_url, ok=(200,),
                                            what=f"registry {host}"):
                pass
            if client.state.challenges.get(host) is None and not creds:
                raise Unauthorized(f"unauthorized: no credentials given for {host}")
        return "Login Succeeded"
