"""Builders for the image tests: tarballs, docker-archives and OCI layouts in memory.

Loaded by conftest.py as the module `images_testlib` (tests are not a package).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_tar(files: dict[str, bytes], gz: bool = False) -> bytes:
    """Return a tar (maybe gzip'd) of regular FILES (name -> content)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if gz else raw


def tar_members(members: dict[str, bytes]) -> bytes:
    """Return an archive tar whose members are MEMBERS (name -> bytes)."""
    return make_tar(members)


def image_config(diff_ids: list[str], **config: object) -> dict:
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05.123456789Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": "2024-01-02T03:04:05Z", "created_by": f"step {i}"}
            for i in range(len(diff_ids))
        ],
    }


def legacy_docker_archive(layers: list[bytes], tags: list[str], **config: object) -> bytes:
    """Return a docker-archive in the pre-25 layout (<hex>.json, <id>/layer.tar)."""
    diff_ids = []
    for layer in layers:
        raw = gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer
        diff_ids.append(sha(raw))
    cfg = json.dumps(image_config(diff_ids, **config)).encode()
    members = {f"{sha(cfg)[7:]}.json": cfg}
    names = []
    for i, layer in enumerate(layers):
        name = f"{i:064x}/layer.tar"
        members[name] = layer
        members[f"{i:064x}/VERSION"] = b"1.0"
        names.append(name)
    manifest = [{"Config": f"{sha(cfg)[7:]}.json", "RepoTags": tags, "Layers": names}]
    members["manifest.json"] = json.dumps(manifest).encode()
    return tar_members(members)


def oci_layout(layers: list[bytes], annotations: dict[str, str] | None, **config: object) -> bytes:
    """Return an OCI image layout tar (layers as given: gzip'd or not)."""
    diff_ids, descs, members = [], [], {}
    for layer in layers:
        gz = layer[:2] == b"\x1f\x8b"
        diff_ids.append(sha(gzip.decompress(layer) if gz else layer))
        mt = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gz else "")
        descs.append({"mediaType": mt, "digest": sha(layer), "size": len(layer)})
        members[f"blobs/sha256/{sha(layer)[7:]}"] = layer
    cfg = json.dumps(image_config(diff_ids, **config)).encode()
    members[f"blobs/sha256/{sha(cfg)[7:]}"] = cfg
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha(cfg),
                "size": len(cfg),
            },
            "layers": descs,
        }
    ).encode()
    members[f"blobs/sha256/{sha(manifest)[7:]}"] = manifest
    entry = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha(manifest),
        "size": len(manifest),
    }
    if annotations:
        entry["annotations"] = annotations
    members["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    members["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode()
    return tar_members(members)
