import os
import threading
from pathlib import Path

import pytest
from snapshots_testlib import E, FakeImages, layer

from shoal.engine.errors import InvalidArgument
from shoal.engine.images import ImageService
from shoal.engine.snapshots import Snapshotter
from shoal.engine.snapshots.errors import SnapshotExists, SnapshotNotFound, UnsafeLayer

pytestmark = pytest.mark.root


@pytest.fixture
def fake() -> FakeImages:
    return FakeImages()


@pytest.fixture
def snap(engine_dirs: tuple[Path, Path], fake: FakeImages) -> Snapshotter:
    s = Snapshotter(engine_dirs[0] / "snapshots", fake)
    yield s
    for key in s.list():
        s.remove(key)


def test_busybox_rootfs_end_to_end(engine_dirs: tuple[Path, Path], busybox_tar: Path) -> None:
    data, _ = engine_dirs
    images = ImageService(data / "images")
    img = images.import_rootfs(busybox_tar, "busybox")
    snap = Snapshotter(data / "snapshots", images)
    merged = snap.prepare("c1", img)
    try:
        assert (merged / "bin" / "busybox").is_file()
        assert os.readlink(merged / "bin" / "sh") == "busybox"
        assert (merged / "tmp").stat().st_mode & 0o1777 == 0o1777
        assert snap.is_mounted("c1")
        (merged / "new-file").write_text("rw")
        assert (data / "snapshots/containers/c1/upper/new-file").read_text() == "rw"
        assert (snap.layer_dir(img.chain_ids()[0]) / "fs" / "bin" / "busybox").is_file()
    finally:
        snap.remove("c1")
    assert not snap.is_mounted("c1")
    assert not (data / "snapshots/containers/c1").exists()
    snap.remove("c1")  # idempotent


def test_whiteouts_hide_lower_files(snap: Snapshotter, fake: FakeImages) -> None:
    base = layer("etc/a", "etc/b", "d/x", "d/sub/y")
    top = layer(E("etc/.wh.a"), E("d/.wh..wh..opq"), E("d/z"))
    img = fake.add(base, top)
    merged = snap.prepare("w", img)
    assert sorted(os.listdir(merged / "etc")) == ["b"]
    assert sorted(os.listdir(merged / "d")) == ["z"]
    assert not (merged / "etc" / "a").exists()
    # the lower layer itself still has the files
    assert (snap.layer_dir(img.chain_ids()[0]) / "fs" / "etc" / "a").exists()


def test_mount_after_unmount_keeps_the_rw_layer(snap: Snapshotter, fake: FakeImages) -> None:
    img = fake.add(layer("f"))
    merged = snap.prepare("k", img)
    (merged / "kept").write_text("1")
    snap.unmount("k")
    assert not snap.is_mounted("k") and not (merged / "kept").exists()
    snap.unmount("k")  # not mounted: nothing to do
    assert snap.mount("k", img) == merged
    assert snap.mount("k", img) == merged  # already mounted: nothing to do
    assert (merged / "kept").read_text() == "1" and (merged / "f").exists()
    with pytest.raises(SnapshotNotFound):
        snap.mount("nope", img)


def test_image_without_layers(snap: Snapshotter, fake: FakeImages) -> None:
    merged = snap.prepare("empty", fake.add())
    assert os.listdir(merged) == []
    (merged / "x").write_text("ok")
    assert list((snap.root / "empty").iterdir()) == []


def test_many_layers_use_short_relative_paths(snap: Snapshotter, fake: FakeImages) -> None:
    layers = [layer(f"f{i:02}") for i in range(70)]
    img = fake.add(*layers)
    lower = ":".join(f"{snap.root}/l/{c[7:23]}" for c in img.chain_ids())
    assert len(lower) > 4096  # too long for one page: mounted from the root dir
    merged = snap.prepare("many", img)
    assert (merged / "f00").exists() and (merged / "f69").exists()
    assert len(os.listdir(merged)) == 70


def test_layers_unpack_once_under_concurrency(snap: Snapshotter, fake: FakeImages) -> None:
    img = fake.add(layer("a"), layer("b"), layer("c"))
    errors: list[BaseException] = []

    def work() -> None:
        try:
            snap.ensure_layers(img)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert fake.opened == {d: 1 for d in img.diff_ids}
    snap.ensure_layers(img)
    assert fake.opened == {d: 1 for d in img.diff_ids}
    assert snap.layers() == sorted(img.chain_ids())


def test_shared_base_layers_are_shared(snap: Snapshotter, fake: FakeImages) -> None:
    base = layer("base")
    one, two = fake.add(base, layer("one")), fake.add(base, layer("two"))
    assert one.chain_ids()[0] == two.chain_ids()[0]
    snap.prepare("one", one)
    snap.prepare("two", two)
    assert fake.opened[one.diff_ids[0]] == 1
    assert len(snap.layers()) == 3


def test_prepare_errors_undo_everything(snap: Snapshotter, fake: FakeImages) -> None:
    img = fake.add(layer("f"))
    snap.prepare("k", img)
    with pytest.raises(SnapshotExists):
        snap.prepare("k", img)
    for bad in ("", "../x", "a/b", ".hidden", "x" * 200):
        with pytest.raises(InvalidArgument):
            snap.prepare(bad, img)
    evil = fake.add(layer("ok"), layer(E("../../escape")))
    with pytest.raises(UnsafeLayer, match="escapes the rootfs"):
        snap.prepare("evil", evil)
    assert snap.list() == ["k"]
    assert not (snap.layer_dir(evil.chain_ids()[1]) / "fs").exists()
    assert not (snap.root / "escape").exists() and not (snap.root.parent / "escape").exists()


def test_remove_a_busy_mount(snap: Snapshotter, fake: FakeImages) -> None:
    merged = snap.prepare("busy", fake.add(layer("f")))
    fd = os.open(merged / "f", os.O_RDONLY)
    try:
        snap.remove("busy")  # EBUSY: detached lazily
    finally:
        os.close(fd)
    assert not snap.is_mounted("busy") and snap.list() == []


def test_prune_keeps_what_is_used(snap: Snapshotter, fake: FakeImages) -> None:
    used, kept, gone = fake.add(layer("u")), fake.add(layer("k")), fake.add(layer("g"))
    snap.prepare("c", used)
    snap.ensure_layers(kept)
    snap.ensure_layers(gone)
    assert snap.prune_layers(kept.chain_ids()) == gone.chain_ids()
    assert snap.layers() == sorted(used.chain_ids() + kept.chain_ids())
    assert not (snap.root / "l" / gone.chain_ids()[0][7:23]).exists()
