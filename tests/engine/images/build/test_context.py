"""Build contexts: safe tar extraction, sources and globs, escapes, .dockerignore, checksums."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from pathlib import Path

import pytest

from shoal.engine.images.build.context import BuildContext, Source, resolve_in_root
from shoal.engine.images.build.errors import BuildError, ContextError
from shoal.engine.images.build.ignore import IgnoreMatcher


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
def ctx_dir(tmp_path: Path) -> Path:
    return make_tree(
        tmp_path / "ctx",
        {
            "Dockerfile": "FROM scratch\n",
            "a.txt": "a",
            "b.txt": "b",
            "c.md": "c",
            "src/main.py": "main",
            "src/util/x.py": "x",
            "src/util/y.pyc": "y",
            "link-in": "->src/main.py",
            "link-abs": "->/src/util",
            "link-out": "->../../../../etc/passwd",
            "link-host": "->/etc/passwd",
        },
    )


def rels(sources: list[Source]) -> list[str]:
    return [s.rel for s in sources]


def test_sources_paths_and_globs(ctx_dir: Path) -> None:
    ctx = BuildContext(ctx_dir)
    assert rels(ctx.sources(["a.txt"])) == ["a.txt"]
    assert rels(ctx.sources(["*.txt", "src"])) == ["a.txt", "b.txt", "src"]
    assert rels(ctx.sources(["src/*/?.py"])) == ["src/util/x.py"]
    assert rels(ctx.sources(["[ab].txt"])) == ["a.txt", "b.txt"]
    assert rels(ctx.sources(["."])) == ["."]
    assert rels(ctx.sources(["./src/../a.txt"])) == ["a.txt"]
    assert ctx.sources(["/a.txt"])[0].path == ctx_dir / "a.txt"  # absolute = from the root
    assert ctx.sources(["."])[0].path == ctx_dir


def test_symlinks_resolve_inside_the_root(ctx_dir: Path) -> None:
    ctx = BuildContext(ctx_dir)
    (src,) = ctx.sources(["link-in"])
    assert src.rel == "link-in" and src.path == ctx_dir / "src/main.py"
    (src,) = ctx.sources(["link-abs/x.py"])
    assert src.path == ctx_dir / "src/util/x.py"
    for name in ("link-out", "link-host"):  # both resolve to <ctx>/etc/passwd: absent
        with pytest.raises(ContextError, match=f"file not found: {name}"):
            ctx.sources([name])
    make_tree(ctx_dir, {"etc/passwd": "mine"})
    assert ctx.sources(["link-out"])[0].path == ctx_dir / "etc/passwd"
    assert ctx.sources(["link-host"])[0].path == ctx_dir / "etc/passwd"


@pytest.mark.parametrize("pattern", ["../x", "/../x", "src/../../x", "..", "../*"])
def test_escaping_the_context_is_forbidden(ctx_dir: Path, pattern: str) -> None:
    with pytest.raises(ContextError) as exc:
        BuildContext(ctx_dir).sources(["a.txt", pattern], line=7)
    assert str(exc.value) == (
        f"Dockerfile:7: COPY failed: forbidden path outside the build context: {pattern}"
    )
    assert isinstance(exc.value, BuildError)


def test_no_match_names_the_pattern(ctx_dir: Path) -> None:
    ctx = BuildContext(ctx_dir)
    with pytest.raises(ContextError, match=r"^Dockerfile:3: COPY failed: no files match \*\.zip"):
        ctx.sources(["*.zip"], line=3)
    with pytest.raises(ContextError, match=r"^Df:4: ADD failed: file not found: nope"):
        ctx.sources(["nope"], file="Df", line=4, keyword="ADD")
    with pytest.raises(ContextError, match="file not found: a.txt/x"):
        ctx.sources(["a.txt/x"])


def test_ignored_files_are_invisible(ctx_dir: Path) -> None:
    ignore = IgnoreMatcher(["*.md", "src/util", "!src/util/x.py", "Dockerfile"])
    ctx = BuildContext(ctx_dir, ignore)
    with pytest.raises(ContextError):
        ctx.sources(["c.md"])
    with pytest.raises(ContextError):
        ctx.sources(["*.md"])
    with pytest.raises(ContextError):
        ctx.sources(["src/util/y.pyc"])
    assert rels(ctx.sources(["src/util/*"])) == ["src/util/x.py"]
    assert rels(ctx.sources(["*"])) == ["a.txt", "b.txt", "link-abs", "link-in", "src"]
    assert ctx.read_dockerfile() == ("FROM scratch\n", "Dockerfile")  # still readable


def test_read_dockerfile(ctx_dir: Path) -> None:
    ctx = BuildContext(ctx_dir)
    make_tree(ctx_dir, {"sub/Dockerfile.dev": "FROM a\n"})
    assert ctx.read_dockerfile("sub/Dockerfile.dev") == ("FROM a\n", "sub/Dockerfile.dev")
    with pytest.raises(ContextError, match="cannot locate the Dockerfile 'nope'"):
        ctx.read_dockerfile("nope")
    with pytest.raises(ContextError, match="outside the build context"):
        ctx.read_dockerfile("../Dockerfile")
    (ctx_dir / "Dockerfile").rename(ctx_dir / "dockerfile")
    assert ctx.read_dockerfile() == ("FROM scratch\n", "dockerfile")


def test_resolve_in_root(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"usr/lib/x": "x", "lib": "->usr/lib", "abs": "->/usr", "f": "f"})
    r = str(root)
    assert resolve_in_root(r, "/lib/x") == (f"{r}/usr/lib/x", [])
    assert resolve_in_root(r, "abs/lib/new/y") == (f"{r}/usr/lib", ["new", "y"])
    assert resolve_in_root(r, "../../..") == (r, [])
    assert resolve_in_root(r, "new/../lib") == (f"{r}/usr/lib", [])
    assert resolve_in_root(r, "lib", follow_last=False) == (f"{r}/lib", [])
    with pytest.raises(NotADirectoryError):
        resolve_in_root(r, "f/x")
    (root / "loop").symlink_to("loop")
    with pytest.raises(OSError, match="symbolic links"):
        resolve_in_root(r, "loop/x")


# -- checksums -------------------------------------------------------------------------


def test_checksum_stable_and_sensitive(ctx_dir: Path, tmp_path: Path) -> None:
    ctx = BuildContext(ctx_dir)
    all_ = ctx.sources(["."])
    first = ctx.checksum(all_)
    assert first.startswith("sha256:") and len(first) == 71
    assert BuildContext(ctx_dir).checksum(all_) == first
    os.utime(ctx_dir / "a.txt", (1, 1))  # mtime does not count
    assert BuildContext(ctx_dir).checksum(all_) == first
    # the same tree elsewhere has the same checksum
    copy = make_tree(tmp_path / "other", {})
    os.system(f"cp -a {ctx_dir}/. {copy}/")
    assert BuildContext(copy).checksum(BuildContext(copy).sources(["."])) == first

    def changed(mutate) -> str:
        mutate()
        return BuildContext(ctx_dir).checksum(all_)

    seen = {first}
    steps = [
        lambda: (ctx_dir / "src/util/x.py").write_text("X"),  # one byte
        lambda: (ctx_dir / "a.txt").chmod(0o600),  # a mode
        lambda: (ctx_dir / "src/util").chmod(0o700),  # a directory's mode
        lambda: ((ctx_dir / "link-in").unlink(), (ctx_dir / "link-in").symlink_to("a.txt")),
        lambda: (ctx_dir / "b.txt").rename(ctx_dir / "b2.txt"),  # a name
        lambda: (ctx_dir / "empty").mkdir(),  # an empty directory
    ]
    for step in steps:
        value = changed(step)
        assert value not in seen
        seen.add(value)


def test_checksum_of_selected_sources(ctx_dir: Path) -> None:
    ctx = BuildContext(ctx_dir)
    a = ctx.checksum(ctx.sources(["a.txt"]))
    (ctx_dir / "b.txt").write_text("changed")
    assert ctx.checksum(ctx.sources(["a.txt"])) == a  # other files do not count
    assert ctx.checksum(ctx.sources(["a.txt", "b.txt"])) != ctx.checksum(
        ctx.sources(["b.txt", "a.txt"])
    )
    # a file's name counts: COPY a.txt /d/ differs from COPY b.txt /d/ with the same bytes
    (ctx_dir / "b.txt").write_text("a")
    assert ctx.checksum(ctx.sources(["a.txt"])) != ctx.checksum(ctx.sources(["b.txt"]))


def test_checksum_skips_ignored_files(ctx_dir: Path) -> None:
    ignore = IgnoreMatcher(["**/*.pyc"])
    ctx = BuildContext(ctx_dir, ignore)
    before = ctx.checksum(ctx.sources(["src"]))
    (ctx_dir / "src/util/y.pyc").write_text("rebuilt")
    (ctx_dir / "src/z.pyc").write_text("new")
    assert BuildContext(ctx_dir, ignore).checksum(ctx.sources(["src"])) == before


def test_checksum_sees_a_rewrite_with_the_same_size_and_mtime(ctx_dir: Path) -> None:
    ctx = BuildContext(ctx_dir)
    srcs = ctx.sources(["a.txt"])
    before = ctx.checksum(srcs)
    st = os.stat(ctx_dir / "a.txt")
    time.sleep(0.01)
    (ctx_dir / "a.txt").write_text("z")
    os.utime(ctx_dir / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert ctx.checksum(srcs) != before  # the ctime changed: the cache is not trusted


# -- the context tar --------------------------------------------------------------------


def tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes | None]], gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    raw = buf.getvalue()
    return gzip.compress(raw) if gz else raw


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, link, mode, 1_600_000_000
    info.uid = info.gid = 1234
    return info


@pytest.mark.parametrize("gz", [False, True])
def test_from_tar_extracts_and_applies_dockerignore(tmp_path: Path, gz: bool) -> None:
    data = tar_bytes(
        [
            (entry("./", tarfile.DIRTYPE, mode=0o755), None),
            (entry("Dockerfile"), b"FROM a\nCOPY . /\n"),
            (entry(".dockerignore"), b"**/*.log\nDockerfile\n.dockerignore\n"),
            (entry("app/run.sh", mode=0o755), b"#!/bin/sh\n"),
            (entry("app/debug.log"), b"noise"),
            (entry("app/link", tarfile.SYMTYPE, "run.sh"), None),
            (entry("app/hard", tarfile.LNKTYPE, "app/run.sh"), None),
            (entry("dev/null", tarfile.CHRTYPE), None),
            (entry("ro", tarfile.DIRTYPE, mode=0o555), None),
            (entry("ro/f"), b"f"),
        ],
        gz=gz,
    )
    dest = tmp_path / "ctx"
    ctx = BuildContext.from_tar(io.BytesIO(data), dest)
    assert ctx.read_dockerfile() == ("FROM a\nCOPY . /\n", "Dockerfile")
    assert (dest / "app/run.sh").stat().st_mode & 0o777 == 0o755
    assert os.readlink(dest / "app/link") == "run.sh"
    assert (dest / "app/hard").stat().st_ino == (dest / "app/run.sh").stat().st_ino
    assert not (dest / "dev/null").exists()  # no device nodes
    assert (dest / "ro/f").read_text() == "f"
    assert rels(ctx.sources(["app/*"])) == ["app/hard", "app/link", "app/run.sh"]
    with pytest.raises(ContextError):
        ctx.sources(["Dockerfile"])  # ignored: not copied, though readable


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([(entry("../evil"), b"x")], "entry '../evil' escapes the context"),
        ([(entry("a/../../evil"), b"x")], "entry 'a/../../evil' escapes the context"),
        (
            [(entry("l", tarfile.SYMTYPE, "/etc"), None), (entry("l/passwd"), b"x")],
            "entry 'l/passwd' goes through 'l', which is not a directory",
        ),
        (
            [(entry("h", tarfile.LNKTYPE, "../../etc/passwd"), None)],
            "entry 'h' escapes the context",
        ),
        (
            [(entry("h", tarfile.LNKTYPE, "missing"), None)],
            "is a hard link to 'missing', which is not an earlier file",
        ),
        (
            [(entry("d", tarfile.DIRTYPE), None), (entry("h", tarfile.LNKTYPE, "d"), None)],
            "is a hard link to 'd', which is not an earlier file",
        ),
    ],
)
def test_from_tar_refuses_evil_tars(tmp_path: Path, entries, message: str) -> None:
    dest = tmp_path / "ctx"
    with pytest.raises(ContextError, match=message):
        BuildContext.from_tar(io.BytesIO(tar_bytes(entries)), dest)
    assert not dest.exists()  # nothing half-extracted
    assert sorted(os.listdir(tmp_path)) == []


def test_from_tar_rejects_garbage(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="not a valid tar stream"):
        BuildContext.from_tar(io.BytesIO(b"\x1f\x8bnot gzip at all" * 10), tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_from_tar_absolute_names_stay_inside(tmp_path: Path) -> None:
    data = tar_bytes([(entry("/etc/passwd"), b"mine")])
    ctx = BuildContext.from_tar(io.BytesIO(data), tmp_path / "ctx")
    assert (tmp_path / "ctx/etc/passwd").read_text() == "mine"
    assert rels(ctx.sources(["etc/passwd"])) == ["etc/passwd"]
