import gzip
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest

from shoal.engine.errors import Conflict, InvalidArgument, NotFound
from shoal.engine.images import ImageService
from shoal.engine.images import digest as dg
from shoal.engine.images.errors import (
    AmbiguousImageID,
    ImageInUse,
    ImageNotFound,
    InvalidArchive,
    InvalidChange,
    InvalidReference,
    LayerNotFound,
)


def test_import_rootfs_makes_a_one_layer_image(images: ImageService, small_rootfs: bytes) -> None:
    img = images.import_rootfs(io.BytesIO(small_rootfs), "busybox", ['CMD ["sh"]', "ENV A=1"], "hi")
    assert img.id == dg.of_bytes(images.blobs.read(img.id))
    assert img.repo_tags == ["busybox:latest"]
    assert img.diff_ids == [dg.of_bytes(small_rootfs)]
    assert img.chain_ids() == img.diff_ids
    assert img.size == len(small_rootfs)
    cfg = img.config
    assert cfg["os"] == "linux" and cfg["architecture"]
    assert cfg["config"] == {"Cmd": ["sh"], "Env": ["A=1"]}
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": img.diff_ids}
    assert cfg["history"][0]["comment"] == "hi"
    m = json.loads(images.blobs.read(img.manifest_digest))
    assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert m["config"]["digest"] == img.id
    assert [x["digest"] for x in m["layers"]] == img.diff_ids


def test_import_accepts_gzip_and_paths(
    images: ImageService, tmp_path: Path, small_rootfs: bytes
) -> None:
    p = tmp_path / "rootfs.tar.gz"
    p.write_bytes(gzip.compress(small_rootfs))
    img = images.import_rootfs(p, None)
    assert img.repo_tags == []
    assert img.diff_ids == [dg.of_bytes(small_rootfs)]  # stored uncompressed
    assert img.config["history"][0]["comment"] == f"Imported from {p}"
    with images.open_layer(img.diff_ids[0]) as f:
        assert f.read() == small_rootfs


def test_import_rejects_bad_input_before_storing(images: ImageService, small_rootfs: bytes) -> None:
    with pytest.raises(InvalidChange, match="FROM"):
        images.import_rootfs(io.BytesIO(small_rootfs), "x", ["FROM scratch"])
    with pytest.raises(InvalidReference):
        images.import_rootfs(io.BytesIO(small_rootfs), "Bad Name")
    with pytest.raises(InvalidArchive, match="not a tar archive"):
        images.import_rootfs(io.BytesIO(b"this is not a tarball" * 100), "x")
    assert images.list() == []
    assert images.blobs.digests() == []
    assert list(images.blobs.tmp.iterdir()) == []


def test_lookup_by_id_prefix_and_reference(images: ImageService, small_rootfs: bytes) -> None:
    img = images.import_rootfs(io.BytesIO(small_rootfs), "localhost:5000/x/y:v1")
    for name in (
        img.id,
        img.id[7:],
        img.short_id,
        img.id[:12],
        "localhost:5000/x/y:v1",
        f"localhost:5000/x/y@{img.manifest_digest}",
    ):
        assert images.get(name).id == img.id, name
    with pytest.raises(ImageNotFound, match="No such image: nope:latest") as exc:
        images.get("nope:latest")
    assert isinstance(exc.value, NotFound)
    with pytest.raises(ImageNotFound):
        images.get("localhost:5000/x/y")  # :latest does not exist


def test_ambiguous_prefix(images: ImageService, tar_factory) -> None:
    ids = [
        images.import_rootfs(io.BytesIO(tar_factory({f"f{i}": b"x"})), None).id for i in range(40)
    ]
    common = {i[7] for i in ids}
    first = next(c for c in common if sum(i[7] == c for i in ids) > 1)
    with pytest.raises(AmbiguousImageID):
        images.get(first)


def test_tag_list_and_persistence(images: ImageService, small_rootfs: bytes) -> None:
    img = images.import_rootfs(io.BytesIO(small_rootfs), "a")
    images.tag("a", "b:1")
    images.tag(img.short_id, "registry.example:5000/c")
    with pytest.raises(InvalidReference, match="digest"):
        images.tag("a", f"a@{img.manifest_digest}")
    with pytest.raises(ImageNotFound):
        images.tag("missing", "x")
    again = ImageService(images.root)
    got = again.get("b:1")
    assert got.repo_tags == ["a:latest", "b:1", "registry.example:5000/c:latest"]
    assert got.config == img.config and got.layers == img.layers
    assert [i.id for i in again.list()] == [img.id]


def test_retag_moves_the_tag(images: ImageService, tar_factory) -> None:
    one = images.import_rootfs(io.BytesIO(tar_factory({"a": b"1"})), "app")
    two = images.import_rootfs(io.BytesIO(tar_factory({"a": b"2"})), "app")
    assert images.get("app").id == two.id
    assert images.get(one.id).repo_tags == []


def test_remove_untags_then_deletes(images: ImageService, small_rootfs: bytes) -> None:
    img = images.import_rootfs(io.BytesIO(small_rootfs), "a")
    images.tag("a", "b")
    assert images.remove("a") == [{"Untagged": "a:latest"}]
    assert images.get(img.id).repo_tags == ["b:latest"]
    assert images.remove("b") == [{"Untagged": "b:latest"}, {"Deleted": img.id}]
    assert images.list() == []
    assert images.blobs.digests() == []  # config, manifest and layer collected
    with pytest.raises(ImageNotFound):
        images.remove("b")


def test_remove_by_id_needs_force_when_several_repos(
    images: ImageService, small_rootfs: bytes
) -> None:
    img = images.import_rootfs(io.BytesIO(small_rootfs), "a")
    images.tag("a", "b")
    with pytest.raises(ImageInUse, match="referenced in multiple repositories") as exc:
        images.remove(img.short_id)
    assert isinstance(exc.value, Conflict)
    out = images.remove(img.short_id, force=True)
    assert out == [{"Untagged": "a:latest"}, {"Untagged": "b:latest"}, {"Deleted": img.id}]


def test_remove_refuses_an_image_in_use(images: ImageService, small_rootfs: bytes) -> None:
    img = images.import_rootfs(io.BytesIO(small_rootfs), "a")
    cid = "c0ffee" * 10 + "abcd"
    with pytest.raises(ImageInUse, match="container c0ffeec0ffee is using its referenced image"):
        images.remove("a", in_use=lambda i: cid if i == img.id else None)
    with pytest.raises(ImageInUse, match="image is being used by container"):
        images.remove(img.id, in_use=lambda i: True)
    assert images.get("a").id == img.id
    assert images.remove("a", force=True, in_use=lambda i: True)[-1] == {"Deleted": img.id}


def test_remove_one_of_two_tags_while_in_use(images: ImageService, small_rootfs: bytes) -> None:
    images.import_rootfs(io.BytesIO(small_rootfs), "a:1")
    images.tag("a:1", "a:2")
    # Two tags in one repository: not a "single reference", so untagging is fine.
    assert images.remove("a:1", in_use=lambda i: True) == [{"Untagged": "a:1"}]


def test_shared_layer_survives_removal_of_one_image(
    images: ImageService, small_rootfs: bytes
) -> None:
    one = images.import_rootfs(io.BytesIO(small_rootfs), "one", ["CMD a"])
    two = images.import_rootfs(io.BytesIO(small_rootfs), "two", ["CMD b"])
    assert one.id != two.id and one.diff_ids == two.diff_ids
    images.remove("one")
    with images.open_layer(two.diff_ids[0]) as f:
        assert f.read() == small_rootfs
    with pytest.raises(LayerNotFound):
        images.open_layer("sha256:" + "9" * 64)


def test_docker_api_views(images: ImageService, small_rootfs: bytes) -> None:
    img = images.import_rootfs(
        io.BytesIO(small_rootfs), "busybox", ["LABEL a=b", "EXPOSE 80", "CMD sh"], "msg"
    )
    ins = images.inspect_json(img)
    assert ins["Id"] == img.id and ins["RepoTags"] == ["busybox:latest"]
    assert ins["RootFS"] == {"Type": "layers", "Layers": img.diff_ids}
    assert ins["Config"]["Labels"] == {"a": "b"} and ins["Config"]["Tty"] is False
    assert ins["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert ins["Os"] == "linux" and ins["Size"] == img.size and ins["Comment"] == "msg"
    s = images.summary_json(img)
    assert s["Created"] == img.created_unix > 1_600_000_000
    assert s["Labels"] == {"a": "b"} and s["Containers"] == -1
    assert s["RepoTags"] == ["busybox:latest"] and s["Size"] == img.size
    h = images.history(img)
    assert h == [
        {
            "Id": img.id,
            "Created": img.created_unix,
            "CreatedBy": "",
            "Tags": ["busybox:latest"],
            "Size": img.size,
            "Comment": "msg",
        }
    ]
    json.dumps([ins, s, h])


def test_concurrent_imports_and_lists(images: ImageService, tar_factory) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            images.import_rootfs(io.BytesIO(tar_factory({"f": str(i).encode()})), f"img{i}")
            images.list()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(images.list()) == 8


def test_bad_save_requests(images: ImageService, small_rootfs: bytes) -> None:
    images.import_rootfs(io.BytesIO(small_rootfs), "a")
    with pytest.raises(InvalidArgument):
        images.save([], io.BytesIO())
    with pytest.raises(ImageNotFound):
        images.save(["nope"], io.BytesIO())
    with pytest.raises(InvalidArgument, match="unknown archive format"):
        images.save(["a"], io.BytesIO(), fmt="zip")


def test_save_streams_to_a_pipe_like_writer(images: ImageService, small_rootfs: bytes) -> None:
    images.import_rootfs(io.BytesIO(small_rootfs), "a")

    class Sink(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b) -> int:  # type: ignore[override]
            self.data += b
            return len(b)

        def seekable(self) -> bool:
            return False

    sink = Sink()
    images.save(["a"], sink)  # type: ignore[arg-type]
    with tarfile.open(fileobj=io.BytesIO(bytes(sink.data))) as tar:
        assert "manifest.json" in tar.getnames()


def test_a_damaged_record_is_skipped(images: ImageService, tar_factory) -> None:
    good = images.import_rootfs(io.BytesIO(tar_factory({"a": b"1"})), "good")
    bad = images.import_rootfs(io.BytesIO(tar_factory({"b": b"2"})), "bad")
    images.blobs.path(bad.id).unlink()  # its config blob is gone
    again = ImageService(images.root)
    assert [i.id for i in again.list()] == [good.id]
