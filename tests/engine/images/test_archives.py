import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
from images_testlib import legacy_docker_archive, make_tar, oci_layout, sha, tar_members

from shoal.engine.images import ImageService
from shoal.engine.images.errors import InvalidArchive

LAYER_A = make_tar({"a.txt": b"A" * 1000})
LAYER_B = make_tar({"b.txt": b"B" * 2000})


def members(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            if m.isreg():
                f = tar.extractfile(m)
                assert f
                out[m.name] = f.read()
    return out


def two_layer_image(images: ImageService) -> str:
    images.load(
        io.BytesIO(legacy_docker_archive([LAYER_A, gzip.compress(LAYER_B)], ["app:1"], Cmd=["run"]))
    )
    return images.get("app:1").id


def test_load_legacy_docker_archive_with_a_gzip_layer(images: ImageService) -> None:
    loaded = images.load(
        io.BytesIO(
            legacy_docker_archive(
                [LAYER_A, gzip.compress(LAYER_B)], ["app:1", "reg:5000/app"], Cmd=["run"]
            )
        )
    )
    assert len(loaded) == 1
    img = loaded[0]
    assert img.repo_tags == ["app:1", "reg:5000/app:latest"]
    assert img.diff_ids == [sha(LAYER_A), sha(LAYER_B)]
    assert img.layers[1].media_type.endswith("+gzip")
    assert img.layers[1].uncompressed_size == len(LAYER_B)
    assert img.container_config == {"Cmd": ["run"]}
    with images.open_layer(sha(LAYER_B)) as f:
        assert f.read() == LAYER_B
    # nothing but what the image uses stays in the store (VERSION files, manifest.json ...)
    used = {img.id, img.manifest_digest, *(la.digest for la in img.layers)}
    assert set(images.blobs.digests()) == used


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_save_then_load_round_trip(tmp_path: Path, images: ImageService, fmt: str) -> None:
    image_id = two_layer_image(images)
    images.tag("app:1", "other/app:2")
    out = tmp_path / f"save.{fmt}.tar"
    images.save(["app:1", "other/app:2"], out, fmt=fmt)
    names = members(out.read_bytes())
    assert "oci-layout" in names and "index.json" in names
    assert ("manifest.json" in names) == (fmt == "docker")
    index = json.loads(names["index.json"])
    anns = [m["annotations"] for m in index["manifests"]]
    assert {a["io.containerd.image.name"] for a in anns} == {
        "docker.io/library/app:1",
        "docker.io/other/app:2",
    }
    assert {a["org.opencontainers.image.ref.name"] for a in anns} == {"1", "2"}
    for name, data in names.items():
        if name.startswith("blobs/sha256/"):
            assert sha(data) == "sha256:" + name.rsplit("/", 1)[1]
    if fmt == "docker":
        (entry,) = json.loads(names["manifest.json"])
        assert entry["RepoTags"] == ["app:1", "other/app:2"]
        assert entry["Config"] == f"blobs/sha256/{image_id[7:]}"
        assert [names[p] for p in entry["Layers"]] == [LAYER_A, LAYER_B]  # uncompressed
    fresh = ImageService(tmp_path / "fresh")
    (img,) = fresh.load(out)
    assert img.id == image_id
    assert img.repo_tags == ["app:1", "other/app:2"]
    assert img.diff_ids == [sha(LAYER_A), sha(LAYER_B)]
    with fresh.open_layer(sha(LAYER_B)) as f:
        assert f.read() == LAYER_B


def test_save_by_id_and_by_repository(tmp_path: Path, images: ImageService) -> None:
    image_id = two_layer_image(images)
    images.tag("app:1", "app:2")
    buf = io.BytesIO()
    images.save([image_id[:12]], buf)
    (entry,) = json.loads(members(buf.getvalue())["manifest.json"])
    assert entry["RepoTags"] is None
    buf = io.BytesIO()
    images.save(["app"], buf)  # a bare repository saves all its tags
    (entry,) = json.loads(members(buf.getvalue())["manifest.json"])
    assert entry["RepoTags"] == ["app:1", "app:2"]


def test_load_oci_layout_names_and_compressed_archive(images: ImageService) -> None:
    full = oci_layout(
        [gzip.compress(LAYER_A)],
        {
            "io.containerd.image.name": "docker.io/library/x:7",
            "org.opencontainers.image.ref.name": "7",
        },
    )
    (img,) = images.load(io.BytesIO(gzip.compress(full)))  # a .tar.gz archive too
    assert img.repo_tags == ["x:7"]
    assert img.layers[0].media_type == "application/vnd.oci.image.layer.v1.tar+gzip"
    (img2,) = images.load(
        io.BytesIO(oci_layout([LAYER_B], {"org.opencontainers.image.ref.name": "reg.io/y:8"}))
    )
    assert img2.repo_tags == ["reg.io/y:8"]
    (img3,) = images.load(
        io.BytesIO(oci_layout([LAYER_B], {"org.opencontainers.image.ref.name": "latest"}))
    )
    assert img3.id == img2.id  # same config: same image; a bare tag adds no name
    assert img3.repo_tags == ["reg.io/y:8"]


def test_load_picks_the_host_platform_from_an_index(images: ImageService) -> None:
    arc = members(oci_layout([LAYER_A], None))
    index = json.loads(arc["index.json"])
    m = index["manifests"][0]
    nested = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    **m,
                    "digest": "sha256:" + "e" * 64,
                    "platform": {"os": "linux", "architecture": "s390x-nope"},
                },
                {**m, "platform": {"os": "linux", "architecture": "amd64"}},
                {**m, "platform": {"os": "linux", "architecture": "arm64"}},
            ],
        }
    ).encode()
    arc[f"blobs/sha256/{sha(nested)[7:]}"] = nested
    arc["index.json"] = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "digest": sha(nested),
                    "size": len(nested),
                    "annotations": {"io.containerd.image.name": "multi:1"},
                }
            ],
        }
    ).encode()
    (img,) = images.load(io.BytesIO(tar_members(arc)))
    assert img.repo_tags == ["multi:1"]


def corrupt(arc: bytes, fn) -> bytes:
    m = members(arc)
    fn(m)
    return tar_members(m)


def _swap_layer(m: dict[str, bytes]) -> None:
    name = next(n for n, v in m.items() if v == LAYER_A)
    m[name] = LAYER_B


def _bad_blob(m: dict[str, bytes]) -> None:
    name = next(n for n, v in m.items() if v == LAYER_A)
    m[name] = LAYER_A + b"\0" * 512


@pytest.mark.parametrize(
    ("archive", "words"),
    [
        (b"garbage" * 200, "not a valid tar"),
        (make_tar({"hello": b"x"}), "neither a docker-archive"),
        (legacy_docker_archive([LAYER_A, LAYER_B], ["a"])[:4000], "not a valid tar"),
        (
            corrupt(legacy_docker_archive([LAYER_A], ["a"]), _swap_layer),
            "uncompressed content has digest",
        ),
        (corrupt(oci_layout([LAYER_A], None), _bad_blob), r"has digest sha256:.*, not"),
        (
            corrupt(
                legacy_docker_archive([LAYER_A], ["a"]),
                lambda m: m.update({"manifest.json": b"{not json"}),
            ),
            "not valid JSON",
        ),
        (corrupt(legacy_docker_archive([LAYER_A], ["BAD"]), lambda m: None), "bad image name"),
        (
            corrupt(
                legacy_docker_archive([LAYER_A], ["a"]),
                lambda m: m.pop(next(n for n in m if n.endswith("layer.tar"))),
            ),
            "not in the archive",
        ),
        (
            corrupt(oci_layout([LAYER_A], None), lambda m: m.update({"oci-layout": b"{}"})),
            "imageLayoutVersion",
        ),
    ],
)
def test_bad_archives_are_rejected_and_leave_nothing(
    images: ImageService, archive: bytes, words: str
) -> None:
    with pytest.raises(InvalidArchive, match=words):
        images.load(io.BytesIO(archive))
    assert images.list() == []
    assert images.blobs.digests() == []
