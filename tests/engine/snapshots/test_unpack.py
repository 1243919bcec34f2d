import io
import os
import stat
from pathlib import Path

import pytest
from snapshots_testlib import MTIME, E, layer, sha

from shoal.engine.snapshots.errors import InvalidLayer, UnsafeLayer
from shoal.engine.snapshots.unpack import OPAQUE_XATTR, unpack_layer

pytestmark = pytest.mark.root  # ownership, devices, whiteouts and trusted.* xattrs need root


def unpack(tmp_path: Path, data: bytes) -> Path:
    dest = tmp_path / "fs"
    unpack_layer(io.BytesIO(data), dest, sha(data))
    return dest


def test_every_entry_type_and_its_metadata(tmp_path: Path) -> None:
    fs = unpack(
        tmp_path,
        layer(
            E("usr", "dir", mode=0o755),
            E("usr/bin/tool", data=b"#!x", mode=0o4755, uid=1000, gid=1001),
            E("etc/app.conf", data=b"k=v", xattrs={"user.note": "hello"}),
            E("bin/sh", "sym", link="/usr/bin/tool"),
            E("bin/rel", "sym", link="../usr/bin/tool"),
            E("usr/bin/hard", "link", link="usr/bin/tool"),
            E("dev/null", "chr", dev=(1, 3), mode=0o666),
            E("dev/loop9", "blk", dev=(7, 9), mode=0o660),
            E("run/pipe", "fifo", mode=0o600),
            E("secret", "dir", mode=0o700, uid=1000),
            E("secret/f", data=b"s", xattrs={"trusted.overlay.opaque": "y"}),
        ),
    )
    tool = fs / "usr/bin/tool"
    st = tool.stat()
    assert tool.read_bytes() == b"#!x"
    assert stat.S_IMODE(st.st_mode) == 0o4755  # setuid survives chown
    assert (st.st_uid, st.st_gid) == (1000, 1001)
    assert st.st_mtime == MTIME
    assert os.getxattr(fs / "etc/app.conf", "user.note") == b"hello"
    assert os.readlink(fs / "bin/sh") == "/usr/bin/tool"  # absolute link targets are fine
    assert os.readlink(fs / "bin/rel") == "../usr/bin/tool"
    assert (fs / "usr/bin/hard").stat().st_ino == st.st_ino
    null = (fs / "dev/null").lstat()
    assert (
        stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
    )
    assert stat.S_ISBLK((fs / "dev/loop9").lstat().st_mode)
    assert stat.S_ISFIFO((fs / "run/pipe").lstat().st_mode)
    secret = (fs / "secret").stat()
    assert stat.S_IMODE(secret.st_mode) == 0o700 and secret.st_uid == 1000
    assert secret.st_mtime == MTIME  # directory mtimes are set after their children
    with pytest.raises(OSError):  # a layer cannot forge overlayfs metadata
        os.getxattr(fs / "secret/f", "trusted.overlay.opaque")
    assert stat.S_IMODE((fs).stat().st_mode) == 0o755


def test_whiteouts_map_to_overlayfs(tmp_path: Path) -> None:
    fs = unpack(
        tmp_path,
        layer(
            E("etc/.wh.passwd"),
            E("var/cache/.wh..wh..opq"),
            E("var/cache/new"),
            E(".wh..wh.plnk", "dir"),  # aufs bookkeeping: ignored
        ),
    )
    wh = (fs / "etc/passwd").lstat()
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == os.makedev(0, 0)
    assert os.getxattr(fs / "var/cache", OPAQUE_XATTR) == b"y"
    assert (fs / "var/cache/new").exists()
    assert not (fs / ".wh..wh.plnk").exists() and not (fs / "plnk").exists()


def test_names_are_cleaned_and_safe_links_followed(tmp_path: Path) -> None:
    fs = unpack(
        tmp_path,
        layer(
            E("/abs/file"),
            E("./dot/./file"),
            E("a/../b/file"),
            E("usr/lib", "dir"),
            E("lib", "sym", link="usr/lib"),
            E("lib/libc.so"),
            E("x", "file", data=b"was a file"),
            E("x", "dir"),
            E("x/inside"),
        ),
    )
    assert (fs / "abs/file").is_file() and (fs / "dot/file").is_file()
    assert (fs / "b/file").is_file() and not (fs / "a").exists()
    assert (fs / "usr/lib/libc.so").is_file() and (fs / "lib").is_symlink()
    assert (fs / "x").is_dir() and (fs / "x/inside").is_file()


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ([E("../etc/passwd")], "entry '../etc/passwd' escapes the rootfs"),
        ([E("a/../../x")], "escapes the rootfs"),
        ([E("a", "sym", link="/etc"), E("a/passwd")], r"symlink 'a' -> '/etc' \(an absolute"),
        ([E("a", "sym", link="../../.."), E("a/x")], "'a' -> '../../..' that escapes the rootfs"),
        ([E("d", "dir"), E("d/up", "sym", link="../.."), E("d/up/x")], "escapes the rootfs"),
        ([E("a", "sym", link="b"), E("b", "sym", link="/etc"), E("a/x")], "an absolute path"),
        ([E("a", "sym", link="a"), E("a/x")], "too many symlinks"),
        (
            [E("h", "link", link="../../etc/passwd")],
            "hard link to '../../etc/passwd', which escapes",
        ),
        ([E("h", "link", link="/etc/passwd")], "which is not in the layer"),
        ([E("h", "link", link="nothere")], "which is not in the layer"),
        ([E("d", "dir"), E("h", "link", link="d")], "hard link to the directory 'd'"),
        ([E("a", "sym", link="/etc"), E("h", "link", link="a/passwd")], "an absolute path"),
        ([E("h", "link", link=".")], "hard link to the rootfs itself"),
    ],
)
def test_unsafe_entries_are_rejected_and_leave_nothing(
    tmp_path: Path, entries: list[E], words: str
) -> None:
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_text("root")
    work = tmp_path / "deep" / "er" / "layers"
    work.mkdir(parents=True)
    data = layer(E("ok/file"), *entries)
    with pytest.raises(UnsafeLayer, match=words) as exc:
        unpack_layer(io.BytesIO(data), work / "fs", sha(data))
    assert f"layer {sha(data)[:19]}…" in str(exc.value)
    assert list(work.iterdir()) == []  # no fs, no temp dir
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "er", "etc", "layers", "passwd"]
    assert (outside / "passwd").read_text() == "root"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (layer(E("f"), E("f/x")), "parent 'f' is not a directory"),
        (layer(E("d/.wh.")), "bad whiteout"),
        (layer(E("d/.wh.."), E("x")), "bad whiteout"),
        (b"definitely not a tar" * 50, "not a valid tar"),
    ],
)
def test_invalid_layers(tmp_path: Path, data: bytes, words: str) -> None:
    with pytest.raises(InvalidLayer, match=words):
        unpack_layer(io.BytesIO(data), tmp_path / "fs", sha(data))
    assert list(tmp_path.iterdir()) == []
