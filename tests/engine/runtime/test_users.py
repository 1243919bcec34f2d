"""resolve_user against a rootfs's /etc/passwd and /etc/group."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.engine.errors import InvalidArgument
from shoal.engine.runtime.users import resolve_user

PASSWD = """root:x:0:0:root:/root:/bin/sh
# a comment
app:x:1000:1000:app:/home/app:/bin/sh
web:x:33:33::/var/www:/bin/false
broken line
"""
GROUP = "root:x:0:\nwheel:x:10:app,root\nstaff:x:50:app\napp:x:1000:\nwww:x:33:\n"


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    return tmp_path


@pytest.mark.parametrize(
    ("user", "want"),
    [
        ("", (0, 0, [10])),
        ("root", (0, 0, [10])),
        ("app", (1000, 1000, [10, 50])),
        ("1000", (1000, 1000, [10, 50])),
        ("4242", (4242, 0, [])),
        ("app:www", (1000, 33, [])),
        ("app:50", (1000, 50, [])),
        ("4242:4343", (4242, 4343, [])),
        ("web", (33, 33, [])),
    ],
)
def test_resolve(rootfs, user, want):
    assert resolve_user(rootfs, user) == want


def test_unknown_user_and_group(rootfs):
    with pytest.raises(
        InvalidArgument, match="unable to find user foo: no matching entries in passwd file"
    ):
        resolve_user(rootfs, "foo")
    with pytest.raises(
        InvalidArgument, match="unable to find group nogrp: no matching entries in group file"
    ):
        resolve_user(rootfs, "app:nogrp")


def test_no_files_numeric_only(tmp_path):
    assert resolve_user(tmp_path, "") == (0, 0, [])
    assert resolve_user(tmp_path, "5:6") == (5, 6, [])
    with pytest.raises(InvalidArgument):
        resolve_user(tmp_path, "app")


def test_symlinked_passwd_stays_inside_rootfs(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "passwd").write_text("zed:x:7:8::/:/bin/sh\n")
    (tmp_path / "etc" / "passwd").symlink_to("/real/passwd")  # absolute: relative to the rootfs
    assert resolve_user(tmp_path, "zed") == (7, 8, [])
