"""Unit tests of the HostConfig parsers (Binds, Mounts, Tmpfs) and tmpfs options."""

from __future__ import annotations

import re

import pytest

from shoal.engine.volumes import tmpfs
from shoal.engine.volumes.errors import InvalidMountConfig
from shoal.engine.volumes.parse import clean_path, parse_bind, parse_mount, parse_tmpfs


@pytest.mark.parametrize(
    ("raw", "kind", "source", "dest", "rw", "mode", "propagation"),
    [
        ("data:/var/lib/data", "volume", "data", "/var/lib/data", True, "", ""),
        ("data:/x:ro", "volume", "data", "/x", False, "ro", ""),
        ("data:/x:rw,nocopy", "volume", "data", "/x", True, "rw,nocopy", ""),
        ("/srv:/x", "bind", "/srv", "/x", True, "", "rprivate"),
        ("/srv/:/x/:ro", "bind", "/srv", "/x", False, "ro", "rprivate"),
        ("/srv:/x:ro,rslave", "bind", "/srv", "/x", False, "ro,rslave", "rslave"),
        ("/srv:/x:Z", "bind", "/srv", "/x", True, "Z", "rprivate"),
        ("/just/a/path", "volume", "", "/just/a/path", True, "", ""),
    ],
)
def test_binds(raw, kind, source, dest, rw, mode, propagation):
    r = parse_bind(raw)
    assert (r.type, r.source, r.destination, r.rw, r.mode, r.propagation) == (
        kind, source, dest, rw, mode, propagation,
    )
    assert r.anonymous == (kind == "volume" and not source)
    assert r.create_source == (kind == "bind")


def test_bind_nocopy_and_driver():
    assert parse_bind("data:/x:nocopy").copy is False
    assert parse_bind("data:/x").copy is True
    assert parse_bind("data:/x", volume_driver="local").driver == "local"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("data:rel", "invalid mount path: 'rel' mount path must be absolute"),
        ("data:/", "destination can't be '/'"),
        ("/x:rw", "invalid volume specification"),
        (":/x", "invalid volume specification"),
        ("a:/b:ro:x", "invalid volume specification"),
        ("data:/x:bogus", "invalid mode: bogus"),
        ("data:/x:ro,rw", "invalid mode: ro,rw"),
        ("data:/x:rshared", "propagation mode rshared applies to bind mounts"),
        ("/srv:/x:nocopy", "nocopy applies to volumes"),
        (42, "a bind must be a string"),
    ],
)
def test_bad_binds_name_flag_and_value(raw, message):
    with pytest.raises(InvalidMountConfig, match=re.escape(message)) as exc:
        parse_bind(raw)
    assert str(exc.value).startswith(f"HostConfig.Binds (-v) {raw!r}: ")


def test_mount_volume():
    r = parse_mount({
        "Type": "volume", "Source": "data", "Target": "/d", "ReadOnly": True,
        "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"},
                          "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs",
                                                                        "device": "tmpfs"}}},
    })  # fmt: skip
    assert (r.type, r.source, r.destination, r.rw, r.copy) == ("volume", "data", "/d", False, False)
    assert r.labels == {"a": "b"} and r.driver_options == {"type": "tmpfs", "device": "tmpfs"}
    assert (r.mode, r.propagation) == ("", "")


def test_mount_keys_are_case_insensitive_like_go_json():
    r = parse_mount({"type": "volume", "target": "/d"})
    assert r.anonymous and r.destination == "/d"


def test_mount_bind(tmp_path):
    r = parse_mount({"Type": "bind", "Source": str(tmp_path), "Target": "/d",
                     "BindOptions": {"Propagation": "rslave", "NonRecursive": True}})  # fmt: skip
    assert (r.source, r.propagation, r.recursive, r.create_source) == (
        str(tmp_path), "rslave", False, False,
    )
    r = parse_mount({"Type": "bind", "Source": str(tmp_path / "new"), "Target": "/d",
                     "BindOptions": {"CreateMountpoint": True}})  # fmt: skip
    assert r.create_source and r.propagation == "rprivate"


def test_mount_tmpfs():
    r = parse_mount({"Type": "tmpfs", "Target": "/t",
                     "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1777}})  # fmt: skip
    assert r.tmpfs_options == ["noexec", "nosuid", "nodev", "rprivate", "mode=1777", "size=64m"]
    r = parse_mount({"Type": "tmpfs", "Target": "/t", "ReadOnly": True,
                     "TmpfsOptions": {"Options": [["exec"], ["uid", "1000"]]}})  # fmt: skip
    assert r.tmpfs_options == ["nosuid", "nodev", "rprivate", "ro", "exec", "uid=1000"]
    assert r.in_inspect


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ({"Type": "bind", "Source": "/does/not/exist", "Target": "/x"},
         "bind source path does not exist: /does/not/exist"),
        ({"Type": "bind", "Target": "/x"}, "field Source must not be empty"),
        ({"Type": "bind", "Source": "rel", "Target": "/x"}, "'rel' mount path must be absolute"),
        ({"Type": "bind", "Source": "/", "Target": "/x", "BindOptions": {"Propagation": "up"}},
         "invalid propagation mode: up"),
        ({"Type": "bind", "Source": "/", "Target": "/x",
          "BindOptions": {"ReadOnlyForceRecursive": True}}, "not supported"),
        ({"Type": "bind", "Source": "/", "Target": "/x", "VolumeOptions": {"NoCopy": True}},
         "field VolumeOptions must not be specified"),
        ({"Type": "volume", "Target": "/x", "ReadOnly": True},
         "must not set ReadOnly mode when using anonymous volumes"),
        ({"Type": "volume", "Source": "v1", "Target": "/x", "TmpfsOptions": {"SizeBytes": 1}},
         "field TmpfsOptions must not be specified"),
        ({"Type": "volume", "Source": "v1", "Target": "/x",
          "VolumeOptions": {"Subpath": "../up"}}, "must not escape the volume"),
        ({"Type": "tmpfs", "Source": "x", "Target": "/x"}, "field Source must not be specified"),
        ({"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"SizeBytes": -1}},
         "invalid tmpfs size"),
        ({"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"Options": [["sync"]]}},
         "invalid tmpfs option 'sync'"),
        ({"Type": "npipe", "Target": "/x"}, "mount type 'npipe' unknown"),
        ({"Source": "v1", "Target": "/x"}, "mount type unknown"),
        ({"Type": "volume", "Source": "v1"}, "field Target must not be empty"),
        ({"Type": "volume", "Source": "v1", "Target": "x"}, "'x' mount path must be absolute"),
    ],
)  # fmt: skip
def test_bad_mounts_name_flag_and_value(mount, message):
    with pytest.raises(InvalidMountConfig, match=re.escape(message)) as exc:
        parse_mount(mount)
    assert str(exc.value).startswith("HostConfig.Mounts (--mount) '")


def test_mount_error_shows_the_cli_form():
    with pytest.raises(InvalidMountConfig) as exc:
        parse_mount({"Type": "bind", "Source": "/nope", "Target": "/x", "ReadOnly": True})
    assert str(exc.value) == (
        "HostConfig.Mounts (--mount) 'type=bind,source=/nope,target=/x,readonly': "
        "bind source path does not exist: /nope"
    )


def test_tmpfs_entries():
    r = parse_tmpfs("/run", "size=64m,mode=1777")
    assert r.tmpfs_options == ["noexec", "nosuid", "nodev", "rprivate", "size=64m", "mode=1777"]
    assert not r.in_inspect and r.rw
    r = parse_tmpfs("/run/", "exec,ro,size=1m,size=2m")
    assert r.destination == "/run"
    assert r.tmpfs_options == ["nosuid", "nodev", "rprivate", "exec", "ro", "size=2m"]
    assert not r.rw
    assert parse_tmpfs("/run", "").tmpfs_options == tmpfs.DEFAULTS


@pytest.mark.parametrize(
    ("dest", "opts", "message"),
    [("run", "", "mount path must be absolute"), ("/", "", "destination can't be '/'"),
     ("/run", "size=lots", "invalid tmpfs option 'size=lots'"),
     ("/run", "mode=999", "bad value '999'"), ("/run", "bogus", "invalid tmpfs option 'bogus'")],
)  # fmt: skip
def test_bad_tmpfs(dest, opts, message):
    with pytest.raises(InvalidMountConfig, match=re.escape(message)) as exc:
        parse_tmpfs(dest, opts)
    assert str(exc.value).startswith("HostConfig.Tmpfs (--tmpfs) ")


@pytest.mark.parametrize(
    ("size", "text"), [(1 << 30, "size=1g"), (3 << 20, "size=3m"), (3072, "size=3k"),
                       (1000, "size=1000")],
)  # fmt: skip
def test_tmpfs_size_option(size, text):
    assert tmpfs.size_option(size) == text


def test_clean_path():
    assert clean_path("//a/./b/../c/") == "/a/c"
    assert clean_path("a//b") == "a/b"
