"""Registries that misbehave (500, corrupt blobs, wrong manifest digests) against a tiny
aiohttp fake: each is a clear error and leaves no blob, record or temp file."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from images_testlib import image_config, make_tar, sha  # loaded by conftest.py

from shoal.engine.images import ImageService
from shoal.engine.images.registry.errors import (
    RegistryDigestMismatch,
    RegistryServerError,
    UnsupportedManifest,
)
from shoal.engine.images.registry.service import RegistryService

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYER = make_tar({"bin/x": os.urandom(2048)}, gz=True)
LAYER2 = make_tar({"etc/y": os.urandom(2048)}, gz=True)


def _image() -> tuple[bytes, bytes]:
    import gzip

    cfg = json.dumps(image_config([sha(gzip.decompress(LAYER)), sha(gzip.decompress(LAYER2))]))
    config = cfg.encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha(layer), "size": len(layer)} for layer in (LAYER, LAYER2)],
    }).encode()
    return config, manifest


CONFIG, MANIFEST = _image()


def _app() -> web.Application:
    blobs = {sha(CONFIG): CONFIG, sha(LAYER): LAYER, sha(LAYER2): LAYER2}

    async def v2(_r: web.Request) -> web.Response:
        return web.json_response({})

    async def manifest(r: web.Request) -> web.Response:
        repo, ref = r.match_info["repo"], r.match_info["ref"]
        if repo == "broken":
            return web.json_response(
                {"errors": [{"code": "UNKNOWN", "message": "storage backend exploded"}]},
                status=500)
        if repo == "schema1":
            return web.json_response({"schemaVersion": 1, "name": "x"})
        if repo == "lying" and ref.startswith("sha256:"):
            return web.Response(body=MANIFEST + b" ", content_type=OCI_MANIFEST)
        return web.Response(body=MANIFEST, content_type=OCI_MANIFEST)

    async def blob(r: web.Request) -> web.Response:
        repo, digest = r.match_info["repo"], r.match_info["digest"]
        data = blobs[digest]
        if repo == "corrupt" and digest == sha(LAYER2):
            data = data[:-1] + bytes([data[-1] ^ 1])
        return web.Response(body=data, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/v2/", v2)
    app.router.add_get("/v2/{repo}/manifests/{ref}", manifest)
    app.router.add_get("/v2/{repo}/blobs/{digest}", blob)
    return app


@pytest.fixture
async def fake() -> AsyncIterator[str]:
    runner = web.AppRunner(_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"127.0.0.1:{port}"
    await runner.cleanup()


def _nothing_left(svc: RegistryService) -> None:
    root = svc.images.root
    assert svc.images.blobs.digests() == []
    assert os.listdir(root / "tmp") == []
    assert os.listdir(root / "images") == []
    assert svc.images.list() == []


@pytest.fixture
def svc(tmp_path: Path) -> RegistryService:
    return RegistryService(ImageService(tmp_path / "images"), [], tmp_path / "certs.d")


async def test_a_good_image_pulls(fake: str, svc: RegistryService) -> None:
    img = await svc.pull(f"{fake}/good:1")
    assert img.manifest_digest == sha(MANIFEST)
    assert [layer.digest for layer in img.layers] == [sha(LAYER), sha(LAYER2)]


async def test_server_error_quotes_the_registry(fake: str, svc: RegistryService) -> None:
    with pytest.raises(RegistryServerError,
                       match=rf"registry {fake}/broken answered 500 .*storage backend exploded"):
        await svc.pull(f"{fake}/broken:1")
    _nothing_left(svc)


async def test_corrupt_blob_is_refused_and_nothing_is_kept(
    fake: str, svc: RegistryService
) -> None:
    with pytest.raises(RegistryDigestMismatch) as info:
        await svc.pull(f"{fake}/corrupt:1")
    assert str(info.value).startswith(f"blob {sha(LAYER2)} from {fake}/corrupt: content hashes to")
    _nothing_left(svc)


async def test_manifest_not_matching_the_digest_asked_for(fake: str, svc: RegistryService) -> None:
    with pytest.raises(RegistryDigestMismatch, match="manifest sha256:"):
        await svc.pull(f"{fake}/lying@{sha(MANIFEST)}")
    _nothing_left(svc)


async def test_schema1_is_unsupported(fake: str, svc: RegistryService) -> None:
    with pytest.raises(UnsupportedManifest, match="schema 1"):
        await svc.pull(f"{fake}/schema1:1")
    _nothing_left(svc)


async def test_unreachable_registry(svc: RegistryService) -> None:
    from registry_fixture import free_port  # loaded by conftest.py

    with pytest.raises(Exception, match="cannot reach registry 127.0.0.1"):
        await svc.pull(f"127.0.0.1:{free_port()}/x:1")
    _nothing_left(svc)
