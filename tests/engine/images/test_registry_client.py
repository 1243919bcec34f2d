"""The registry client against a real docker-registry: push, pull back, auth variants, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import registry_fixture as rf  # loaded by conftest.py
from images_testlib import make_tar  # loaded by conftest.py

from shoal.engine.images import ImageService
from shoal.engine.images.registry.credentials import Credentials
from shoal.engine.images.registry.errors import (
    RegistryNotFound,
    Unauthorized,
)
from shoal.engine.images.registry.service import RegistryService

CREDS = Credentials(rf.USER, rf.PASSWORD)


def _service(root: Path, certs: Path | None = None) -> RegistryService:
    return RegistryService(ImageService(root), [], certs or root / "certs.d")


def _image(svc: RegistryService, name: str, files: dict[str, bytes] | None = None) -> str:
    files = files or {"bin/hello": os.urandom(4096), "etc/hostname": b"box\n"}
    src = svc.images.root.parent / f"rootfs-{os.getpid()}.tar"
    src.write_bytes(make_tar(files, gz=True))
    img = svc.images.import_rootfs(src, name, ["CMD [\"/bin/hello\"]"])
    src.unlink()
    return img.id


def _leftovers(svc: RegistryService) -> tuple[list[str], list[str], list[str]]:
    root = svc.images.root
    return (svc.images.blobs.digests(), sorted(os.listdir(root / "tmp")),
            sorted(os.listdir(root / "images")))


async def test_push_then_pull_into_a_fresh_store(registry, tmp_path: Path) -> None:
    a = _service(tmp_path / "a")
    ref = f"{registry.host}/shoal/hello:v1"
    image_id = _image(a, ref)
    messages: list[dict] = []
    [(tag, digest, size)] = await a.push(ref, emit=messages.append)
    assert tag == "v1" and digest.startswith("sha256:") and size > 0
    statuses = [m.get("status") for m in messages]
    assert f"The push refers to repository [{registry.host}/shoal/hello]" in statuses
    assert "Pushed" in statuses and f"v1: digest: {digest} size: {size}" in statuses
    code, _, headers = registry.get(f"shoal/hello/manifests/{digest}")
    assert code == 200 and headers["Docker-Content-Digest"] == digest

    b = _service(tmp_path / "b")
    assert await b.resolve_digest(ref) == digest
    assert b.images.blobs.digests() == []  # resolving pulls nothing
    seen: list[dict] = []
    img = await b.pull(ref, emit=seen.append)
    assert img.id == image_id
    assert img.manifest_digest == digest
    assert f"{registry.host}/shoal/hello@{digest}" in img.repo_digests
    statuses = [m.get("status") for m in seen]
    assert statuses[0] == "Pulling from " + f"{registry.host}/shoal/hello"
    for s in ("Pulling fs layer", "Download complete", "Pull complete", f"Digest: {digest}",
              f"Status: Downloaded newer image for {ref}"):
        assert s in statuses
    downloading = [m for m in seen if m.get("status") == "Downloading"]
    assert downloading and downloading[-1]["progressDetail"]["current"] == img.layers[0].size

    again: list[dict] = []
    await b.pull(f"{registry.host}/shoal/hello@{digest}", emit=again.append)
    assert "Already exists" in [m.get("status") for m in again]
    assert os.listdir(b.images.root / "tmp") == []


async def test_push_mounts_blobs_from_another_repository(registry, tmp_path: Path) -> None:
    a = _service(tmp_path / "a")
    first = f"{registry.host}/mount/src:1"
    _image(a, first)
    await a.push(first)
    a.images.tag(first, f"{registry.host}/mount/dst:1")
    messages: list[dict] = []
    await a.push(f"{registry.host}/mount/dst:1", emit=messages.append)
    assert "Mounted from mount/src" in [m.get("status") for m in messages]
    messages.clear()
    await a.push(f"{registry.host}/mount/dst:1", emit=messages.append)
    assert "Layer already exists" in [m.get("status") for m in messages]


async def test_pull_of_an_unknown_tag_is_not_found_and_leaves_nothing(
    registry, tmp_path: Path
) -> None:
    b = _service(tmp_path / "b")
    with pytest.raises(RegistryNotFound, match="manifest unknown"):
        await b.pull(f"{registry.host}/nothing/here:latest")
    assert _leftovers(b) == ([], [], [])


@pytest.mark.parametrize("variant", ["htpasswd", "token"])
async def test_auth_variants(registry_factory, tmp_path: Path, variant: str) -> None:
    reg = registry_factory(variant)
    ref = f"{reg.host}/auth/{variant}:latest"
    a = _service(tmp_path / "a")
    image_id = _image(a, ref)
    with pytest.raises(Unauthorized, match=f"unauthorized: .* for {reg.host}"):
        await a.push(ref)
    with pytest.raises(Unauthorized):
        await a.push(ref, creds=Credentials(rf.USER, "wrong"))
    await a.push(ref, creds=CREDS)
    assert await a.login(Credentials(rf.USER, rf.PASSWORD, server=reg.host)) == "Login Succeeded"
    with pytest.raises(Unauthorized):
        await a.login(Credentials(rf.USER, "nope", server=f"http://{reg.host}/"))

    b = _service(tmp_path / "b")
    with pytest.raises(Unauthorized, match=f"authentication required for {reg.host}/auth"):
        await b.pull(ref)
    assert _leftovers(b) == ([], [], [])
    img = await b.pull(ref, creds=CREDS)
    assert img.id == image_id
    if variant == "token":
        assert reg.tokens is not None
        scopes = [p for p in reg.tokens.requests if "pull" in p]
        assert scopes  # tokens were asked for with a repository scope
        n = len(reg.tokens.requests)
        await b.resolve_digest(ref, CREDS)
        assert len(reg.tokens.requests) == n  # the cached token was reused


async def test_https_with_a_ca_from_certs_d(registry_factory, tmp_path: Path) -> None:
    reg = registry_factory("tls")
    certs = tmp_path / "certs.d"
    (certs / reg.host).mkdir(parents=True)
    (certs / reg.host / "ca.crt").write_bytes(reg.ca.cert_path.read_bytes())
    a = _service(tmp_path / "a", certs)
    ref = f"{reg.host}/tls/img:1"
    image_id = _image(a, ref)
    await a.push(ref)
    b = _service(tmp_path / "b", certs)
    assert (await b.pull(ref)).id == image_id
    plain = _service(tmp_path / "c")  # no CA: loopback means plain HTTP, which TLS refuses
    with pytest.raises(Exception, match=r"registry|reach"):
        await plain.pull(ref)
    assert _leftovers(plain) == ([], [], [])
