"""COPY/ADD into a root filesystem: Docker's destination rules, ownership, links, tar extraction."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from shoal.engine.images.build.context import BuildContext
from shoal.engine.images.build.copy import copy_sources
from shoal.engine.images.build.errors import BuildError, ContextError
from shoal.engine.images.build.ignore import IgnoreMatcher

ROOT = os.geteuid() == 0


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if data.startswith("->"):
            p.symlink_to(data[2:])
        else:
            p.write_text(data)
    return root


@pytest.fixture
def ctx(tmp_path: Path) -> BuildContext:
    root = make_tree(
        tmp_path / "ctx",
        {"a.txt": "a", "b.txt": "b", "dir/x": "x", "dir/sub/y": "y", "dir/ln": "->x"},
    )
    (root / "dir/x").chmod(0o751)
    os.link(root / "dir/x", root / "dir/hard")
    return BuildContext(root)


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    fs = make_tree(tmp_path / "rootfs", {"usr/lib/keep": "k", "lib": "->usr/lib", "etc/f": "f"})
    (fs / "abs").symlink_to("/usr/lib")
    (fs / "out").symlink_to("../../../../../tmp")
    return fs


def files(root: Path) -> set[str]:
    out = set()
    for dirpath, dirs, names in os.walk(root):
        for n in dirs + names:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def test_file_to_a_file_path(ctx: BuildContext, rootfs: Path) -> None:
    copy_sources(ctx.sources(["a.txt"]), "/opt/app/renamed.txt", rootfs)
    assert (rootfs / "opt/app/renamed.txt").read_text() == "a"
    for d in ("opt", "opt/app"):  # parents: root-owned 0755
        st = (rootfs / d).stat()
        assert st.st_mode & 0o777 == 0o755
        if ROOT:
            assert (st.st_uid, st.st_gid) == (0, 0)


def test_file_to_a_directory(ctx: BuildContext, rootfs: Path) -> None:
    copy_sources(ctx.sources(["a.txt"]), "/opt/", rootfs)
    assert (rootfs / "opt/a.txt").read_text() == "a"
    copy_sources(ctx.sources(["b.txt"]), "/etc", rootfs)  # an existing directory
    assert (rootfs / "etc/b.txt").read_text() == "b"


def test_relative_dest_joins_the_workdir(ctx: BuildContext, rootfs: Path) -> None:
    copy_sources(ctx.sources(["a.txt"]), "sub/", rootfs, workdir="/work")
    assert (rootfs / "work/sub/a.txt").exists()
    copy_sources(ctx.sources(["b.txt"]), ".", rootfs, workdir="/work")
    assert (rootfs / "work/b.txt").exists()


def test_directory_copies_its_contents(ctx: BuildContext, rootfs: Path) -> None:
    copy_sources(ctx.sources(["dir"]), "/app", rootfs)
    assert files(rootfs / "app") == {"x", "sub", "sub/y", "ln", "hard"}
    assert os.readlink(rootfs / "app/ln") == "x"  # symlinks stay symlinks
    assert (rootfs / "app/x").stat().st_mode & 0o777 == 0o751  # modes kept
    assert (rootfs / "app/x").stat().st_ino == (rootfs / "app/hard").stat().st_ino
    assert (rootfs / "app/x").stat().st_mtime == (ctx.root / "dir/x").stat().st_mtime


def test_several_sources_need_a_directory(ctx: BuildContext, rootfs: Path) -> None:
    with pytest.raises(BuildError) as exc:
        copy_sources(ctx.sources(["*.txt"]), "/dst", rootfs, file="Df", line=5)
    assert str(exc.value).startswith("Df:5: with several sources, the destination '/dst'")
    assert not (rootfs / "dst").exists()
    copy_sources(ctx.sources(["*.txt"]), "/dst/", rootfs)
    assert files(rootfs / "dst") == {"a.txt", "b.txt"}
    copy_sources(ctx.sources(["a.txt", "b.txt"]), "/etc", rootfs)  # existing dir: fine
    assert {"a.txt", "b.txt"} <= files(rootfs / "etc")


def test_dest_symlinks_resolve_inside_the_rootfs(ctx: BuildContext, rootfs: Path) -> None:
    copy_sources(ctx.sources(["a.txt"]), "/lib/", rootfs)
    assert (rootfs / "usr/lib/a.txt").read_text() == "a"
    copy_sources(ctx.sources(["b.txt"]), "/abs/", rootfs)  # absolute link: inside the rootfs
    assert (rootfs / "usr/lib/b.txt").read_text() == "b"
    copy_sources(ctx.sources(["a.txt"]), "/out/escaped.txt", rootfs)  # `..` stops at the root
    assert (rootfs / "tmp/escaped.txt").read_text() == "a"
    assert not Path("/tmp/escaped.txt").exists()


def test_merging_a_directory_follows_a_linked_directory(tmp_path: Path, rootfs: Path) -> None:
    src = BuildContext(make_tree(tmp_path / "c2", {"lib/new.so": "so"}))
    copy_sources(src.sources(["."]), "/", rootfs)
    assert (rootfs / "usr/lib/new.so").read_text() == "so"
    assert (rootfs / "lib").is_symlink()


def test_a_file_replaces_a_symlink_not_its_target(ctx: BuildContext, rootfs: Path) -> None:
    (rootfs / "etc/passwd").symlink_to("/etc/shadow-on-the-host")
    copy_sources(ctx.sources(["a.txt"]), "/etc/passwd", rootfs)
    assert not (rootfs / "etc/passwd").is_symlink()
    assert (rootfs / "etc/passwd").read_text() == "a"


def test_file_over_a_directory_is_refused(ctx: BuildContext, rootfs: Path) -> None:
    (rootfs / "app/x").mkdir(parents=True)
    with pytest.raises(BuildError, match="cannot replace the directory"):
        copy_sources(ctx.sources(["dir"]), "/app", rootfs)


def test_chmod_applies_to_files_and_directories(ctx: BuildContext, rootfs: Path) -> None:
    copy_sources(ctx.sources(["dir"]), "/app", rootfs, chmod=0o700)
    assert (rootfs / "app/x").stat().st_mode & 0o7777 == 0o700
    assert (rootfs / "app/sub").stat().st_mode & 0o7777 == 0o700
    assert (rootfs / "app").stat().st_mode & 0o7777 == 0o700  # created by this copy


def test_an_existing_dest_directory_keeps_its_metadata(ctx: BuildContext, rootfs: Path) -> None:
    (rootfs / "etc").chmod(0o711)
    copy_sources(ctx.sources(["dir"]), "/etc/", rootfs, chmod=0o700)
    assert (rootfs / "etc").stat().st_mode & 0o777 == 0o711


@pytest.mark.skipif(not ROOT, reason="chown needs root")
def test_ownership_is_chown_or_root(tmp_path: Path, ctx: BuildContext, rootfs: Path) -> None:
    os.chown(ctx.root / "a.txt", 1000, 1000)
    copy_sources(ctx.sources(["a.txt"]), "/plain/", rootfs)
    st = (rootfs / "plain/a.txt").stat()
    assert (st.st_uid, st.st_gid) == (0, 0)  # COPY resets owners
    copy_sources(ctx.sources(["dir"]), "/deep/app", rootfs, chown=(1001, 1002))
    for rel in ("deep/app", "deep/app/x", "deep/app/sub", "deep/app/sub/y"):
        st = (rootfs / rel).stat()
        assert (st.st_uid, st.st_gid) == (1001, 1002), rel
    assert os.lstat(rootfs / "deep/app/ln").st_uid == 1001
    assert (rootfs / "deep").stat().st_uid == 0  # parents stay root's


def test_dockerignore_applies_inside_copied_directories(tmp_path: Path, rootfs: Path) -> None:
    root = make_tree(
        tmp_path / "c3",
        {"Dockerfile": "d", "src/a.py": "a", "src/a.pyc": "c", "logs/x.log": "l", "logs/keep": "k"},
    )
    ctx = BuildContext(root, IgnoreMatcher(["**/*.pyc", "logs", "!logs/keep", "Dockerfile"]))
    copy_sources(ctx.sources(["."]), "/app/", rootfs)
    assert files(rootfs / "app") == {"src", "src/a.py", "logs", "logs/keep"}


def test_copy_from_another_rootfs(tmp_path: Path, rootfs: Path) -> None:
    stage = make_tree(tmp_path / "stage", {"out/bin/tool": "t", "usr/lib/libx.so": "x"})
    (stage / "lib").symlink_to("/usr/lib")
    other = BuildContext(stage)
    copy_sources(other.sources(["/out/bin/tool"]), "/usr/local/bin/", rootfs)
    assert (rootfs / "usr/local/bin/tool").read_text() == "t"
    (src,) = other.sources(["/lib/libx.so"])  # the stage's absolute link, inside the stage
    assert src.path == stage / "usr/lib/libx.so"


# -- ADD: local archives ------------------------------------------------------------------


def archive(path: Path, entries: dict[str, bytes], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o640
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_add_extracts_local_archives(tmp_path: Path, rootfs: Path, mode: str) -> None:
    root = tmp_path / "c4"
    root.mkdir()
    archive(root / "app.data", {"top/a": b"a", "b": b"b"}, mode)  # detected by content
    ctx = BuildContext(root)
    copy_sources(ctx.sources(["app.data"]), "/opt/", rootfs, extract_tars=True)
    assert (rootfs / "opt/top/a").read_text() == "a" and (rootfs / "opt/b").read_text() == "b"
    assert (rootfs / "opt/b").stat().st_mode & 0o777 == 0o640
    # COPY does not extract
    copy_sources(ctx.sources(["app.data"]), "/copied/", rootfs)
    assert (rootfs / "copied/app.data").read_bytes() == (root / "app.data").read_bytes()


def test_add_copies_what_is_not_an_archive(tmp_path: Path, rootfs: Path) -> None:
    root = make_tree(tmp_path / "c5", {"notes.tar": "not a tar at all"})
    (root / "fake.gz").write_bytes(b"\x1f\x8b\x08garbage")
    ctx = BuildContext(root)
    copy_sources(ctx.sources(["notes.tar", "fake.gz"]), "/d/", rootfs, extract_tars=True)
    assert (rootfs / "d/notes.tar").read_text() == "not a tar at all"
    assert (rootfs / "d/fake.gz").read_bytes() == b"\x1f\x8b\x08garbage"


@pytest.mark.parametrize(
    "build",
    [
        lambda tar: tar.addfile(_info("../../escape", b"x"), io.BytesIO(b"x")),
        lambda tar: (
            tar.addfile(_info("l", link="/", kind=tarfile.SYMTYPE)),
            tar.addfile(_info("l/etc/evil", b"x"), io.BytesIO(b"x")),
        ),
        lambda tar: tar.addfile(_info("h", link="../../../etc/passwd", kind=tarfile.LNKTYPE)),
    ],
)
def test_add_refuses_evil_archives(tmp_path: Path, rootfs: Path, build) -> None:
    root = tmp_path / "c6"
    root.mkdir()
    with tarfile.open(root / "evil.tar", "w") as tar:
        build(tar)
    with pytest.raises(ContextError, match=r"^Dockerfile:4: ADD failed: archive evil.tar: "):
        copy_sources(
            BuildContext(root).sources(["evil.tar"]), "/x/", rootfs, extract_tars=True, line=4
        )
    assert not (tmp_path / "escape").exists() and not (rootfs / "escape").exists()


def _info(name: str, data: bytes = b"", link: str = "", kind: bytes = tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname = len(data), kind, link
    return info
