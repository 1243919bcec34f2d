"""Unit tests of mount resolution: Binds, Mounts, Tmpfs, image Volumes -> runtime/inspect."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from shoal.engine.runtime.spec import Mount
from shoal.engine.volumes import (
    ANONYMOUS_LABEL,
    ResolvedMounts,
    VolumeService,
    release_mounts,
    resolve_mounts,
    sort_mounts,
    start_mounts,
    stop_mounts,
)
from shoal.engine.volumes.errors import (
    DriverNotFound,
    InvalidMountConfig,
    InvalidVolumeName,
    InvalidVolumeOption,
)

CID = "c" * 64


@pytest.fixture
def svc(tmp_path):
    return VolumeService(tmp_path / "volumes")


@pytest.fixture
def rootfs(tmp_path):
    """A fake image rootfs: /etc/app with files, an empty /data owned 0750, a file /file."""
    r = tmp_path / "rootfs"
    (r / "etc" / "app" / "conf.d").mkdir(parents=True)
    (r / "etc" / "app" / "app.conf").write_text("port=80\n")
    (r / "etc" / "app" / "conf.d" / "x.conf").write_text("x\n")
    os.symlink("app.conf", r / "etc" / "app" / "link")
    (r / "data").mkdir(mode=0o750)
    (r / "data").chmod(0o750)
    (r / "file").write_text("f")
    os.symlink("/etc/app", r / "applink")  # absolute: must resolve inside the rootfs
    return r


def names(svc):
    return sorted(v.name for v in svc.list())


def test_binds_volume_bind_and_anonymous(svc, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    res = resolve_mounts(
        {"Binds": ["data:/data", f"{host}:/host:ro", "/anon"]}, None, CID, svc
    )
    data = svc.get("data")
    assert data.refs == [CID] and not data.anonymous
    (anon,) = res.anonymous
    assert svc.get(anon).anonymous and svc.get(anon).refs == [CID]
    assert sorted(res.volumes) == sorted(["data", anon])
    assert res.mounts == [
        Mount("/data", "bind", data.mountpoint, ["rbind", "rprivate"]),
        Mount("/host", "bind", str(host), ["rbind", "rprivate", "ro"]),
        Mount("/anon", "bind", svc.get(anon).mountpoint, ["rbind", "rprivate"]),
    ]
    assert res.inspect == [
        {"Type": "volume", "Name": anon, "Source": svc.get(anon).mountpoint,
         "Destination": "/anon", "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""},
        {"Type": "volume", "Name": "data", "Source": data.mountpoint, "Destination": "/data",
         "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""},
        {"Type": "bind", "Source": str(host), "Destination": "/host", "Mode": "ro", "RW": False,
         "Propagation": "rprivate"},
    ]  # fmt: skip
    assert res.bind_sources == [str(host)]


def test_mounts_and_tmpfs(svc, tmp_path):
    res = resolve_mounts(
        {
            "Mounts": [
                {"Type": "volume", "Source": "v1", "Target": "/v", "ReadOnly": True,
                 "VolumeOptions": {"Labels": {"team": "a"}}},
                {"Type": "bind", "Source": str(tmp_path), "Target": "/b",
                 "BindOptions": {"NonRecursive": True}},
                {"Type": "tmpfs", "Target": "/cache", "TmpfsOptions": {"SizeBytes": 1 << 20}},
            ],
            "Tmpfs": {"/run": "size=64m,mode=1777"},
        },
        None, CID, svc,
    )  # fmt: skip
    assert svc.get("v1").labels == {"team": "a"}
    assert res.mounts == [
        Mount("/v", "bind", svc.get("v1").mountpoint, ["rbind", "rprivate", "ro"]),
        Mount("/b", "bind", str(tmp_path), ["bind", "rprivate"]),
        Mount("/cache", "tmpfs", "", ["noexec", "nosuid", "nodev", "rprivate", "size=1m"]),
        Mount("/run", "tmpfs", "",
              ["noexec", "nosuid", "nodev", "rprivate", "size=64m", "mode=1777"]),
    ]  # fmt: skip
    by_dest = {e["Destination"]: e for e in res.inspect}
    assert set(by_dest) == {"/v", "/b", "/cache"}  # HostConfig.Tmpfs is not in inspect Mounts
    assert by_dest["/cache"] == {"Type": "tmpfs", "Source": "", "Destination": "/cache",
                                 "Mode": "", "RW": True, "Propagation": ""}  # fmt: skip
    assert by_dest["/v"]["RW"] is False and by_dest["/v"]["Mode"] == "z"
    assert res.anonymous == [] and res.bind_sources == []


def test_image_volumes_anonymous_unless_covered(svc, rootfs):
    res = resolve_mounts(
        {"Binds": ["named:/data"], "Tmpfs": {"/tmp": ""}},
        {"/data": {}, "/tmp": {}, "/etc/app/": {}, "/new": {}},
        CID, svc, rootfs,
    )  # fmt: skip
    assert len(res.anonymous) == 2
    dests = {e["Destination"]: e for e in res.inspect}
    assert dests["/data"]["Name"] == "named"
    assert {dests["/etc/app"]["Name"], dests["/new"]["Name"]} == set(res.anonymous)
    assert dests["/new"]["Mode"] == "" and dests["/new"]["Driver"] == "local"
    assert [m.destination for m in res.mounts if m.type == "tmpfs"] == ["/tmp"]
    assert len(names(svc)) == 3


def test_image_volume_over_a_file_is_refused(svc, rootfs):
    with pytest.raises(InvalidMountConfig, match="cannot mount volume over existing file"):
        resolve_mounts({"Binds": ["keep:/k"]}, {"/file": {}}, CID, svc, rootfs)
    assert names(svc) == []


def test_copy_up_into_new_volume(svc, rootfs):
    res = resolve_mounts({"Binds": ["conf:/etc/app", "db:/data"]}, {"/applink": {}}, CID, svc,
                         rootfs)  # fmt: skip
    conf = Path(svc.get("conf").mountpoint)
    assert (conf / "app.conf").read_text() == "port=80\n"
    assert (conf / "conf.d" / "x.conf").read_text() == "x\n"
    assert os.readlink(conf / "link") == "app.conf"
    db = Path(svc.get("db").mountpoint)
    assert list(db.iterdir()) == [] and (db.stat().st_mode & 0o777) == 0o750  # owner/mode too
    # /applink -> /etc/app (absolute, resolved inside the rootfs, not the host's /etc)
    (anon,) = res.anonymous
    assert (Path(svc.get(anon).mountpoint) / "app.conf").exists()


def test_no_copy_up_into_non_empty_volume_nor_with_nocopy(svc, rootfs):
    v = svc.create("conf")
    (Path(v.mountpoint) / "mine").write_text("m")
    resolve_mounts({"Binds": ["conf:/etc/app", "nc:/etc/app/conf.d:nocopy"]}, None, CID, svc,
                   rootfs)  # fmt: skip
    assert sorted(os.listdir(v.mountpoint)) == ["mine"]
    assert os.listdir(svc.get("nc").mountpoint) == []


def test_no_copy_up_without_rootfs(svc):
    res = resolve_mounts({"Binds": ["conf:/etc"]}, {"/file": {}}, CID, svc)
    assert os.listdir(svc.get("conf").mountpoint) == [] and len(res.anonymous) == 1


def test_bind_source_created_for_v_but_not_for_mount(svc, tmp_path):
    src = tmp_path / "a" / "b"
    res = resolve_mounts({"Binds": [f"{src}:/x"]}, None, CID, svc)
    assert src.is_dir() and res.bind_sources == [str(src)]
    missing = tmp_path / "nope"
    with pytest.raises(InvalidMountConfig) as exc:
        resolve_mounts({"Binds": ["v1:/v"],
                        "Mounts": [{"Type": "bind", "Source": str(missing), "Target": "/y"}]},
                       None, CID, svc)  # fmt: skip
    assert f"bind source path does not exist: {missing}" in str(exc.value)
    assert "--mount" in str(exc.value) and not missing.exists()
    assert names(svc) == []


@pytest.mark.parametrize(
    "hc",
    [
        {"Binds": ["a1:/x", "/srv:/x"]},
        {"Binds": ["a1:/x/"], "Tmpfs": {"/x": ""}},
        {"Binds": ["a1:/x"], "Mounts": [{"Type": "volume", "Source": "a2", "Target": "/x"}]},
        {"Mounts": [{"Type": "tmpfs", "Target": "/x"}], "Tmpfs": {"/x": ""}},
    ],
)
def test_duplicate_mount_points(svc, hc):
    with pytest.raises(InvalidMountConfig, match="Duplicate mount point: /x"):
        resolve_mounts(hc, None, CID, svc)
    assert names(svc) == []


def test_errors_name_the_flag_before_anything_is_created(svc):
    with pytest.raises(InvalidVolumeName) as exc:
        resolve_mounts({"Binds": ["ok1:/a", "bad$:/b"]}, None, CID, svc)
    assert str(exc.value).startswith("HostConfig.Binds (-v) 'bad$:/b': create bad$:")
    with pytest.raises(DriverNotFound, match=r"HostConfig.Binds \(-v\) 'ok1:/a': .*plugin"):
        resolve_mounts({"Binds": ["ok1:/a"], "VolumeDriver": "flocker"}, None, CID, svc)
    with pytest.raises(DriverNotFound, match=r"image volume '/d'"):
        resolve_mounts({"VolumeDriver": "flocker"}, {"/d": {}}, CID, svc)
    with pytest.raises(InvalidVolumeOption, match="--mount.*invalid option: 'bogus'"):
        opts = {"DriverConfig": {"Options": {"bogus": "1"}}}
        mount = {"Type": "volume", "Source": "v1", "Target": "/v", "VolumeOptions": opts}
        resolve_mounts({"Mounts": [mount]}, None, CID, svc)
    assert names(svc) == []


def test_failure_midway_leaves_nothing(svc, tmp_path):
    pre = svc.create("pre")
    afile = tmp_path / "afile"
    afile.write_text("x")
    hc = {
        "Binds": ["/anon1", "pre:/pre", "fresh:/fresh", f"{tmp_path}/made/dir:/made",
                  f"{afile}/sub:/bad"],
    }  # fmt: skip
    with pytest.raises(InvalidMountConfig, match="cannot create bind source"):
        resolve_mounts(hc, {"/img": {}}, CID, svc)
    assert names(svc) == ["pre"] and svc.get("pre").refs == []
    assert not (tmp_path / "made").exists()
    assert pre.name == "pre"


def test_failure_on_missing_subpath_releases(svc):
    svc.create("vol1")
    hc = {"Binds": ["/anon"], "Mounts": [{"Type": "volume", "Source": "vol1", "Target": "/s",
                                          "VolumeOptions": {"Subpath": "sub/dir"}}]}  # fmt: skip
    with pytest.raises(InvalidMountConfig, match="subpath 'sub/dir' does not exist"):
        resolve_mounts(hc, None, CID, svc)
    assert names(svc) == ["vol1"] and svc.users("vol1") == []
    (Path(svc.get("vol1").mountpoint) / "sub" / "dir").mkdir(parents=True)
    res = resolve_mounts(hc, None, CID, svc)
    assert res.mounts[-1].source == svc.get("vol1").mountpoint + "/sub/dir"


def test_runtime_mounts_parents_first(svc, tmp_path):
    res = resolve_mounts(
        {"Binds": ["deep:/a/b/c", f"{tmp_path}:/a"], "Tmpfs": {"/a/b": ""}}, None, CID, svc
    )
    assert [m.destination for m in res.mounts] == ["/a", "/a/b", "/a/b/c"]
    mixed = [Mount("/x/y"), Mount("/x"), Mount("/z"), Mount("/x/y/z")]
    assert [m.destination for m in sort_mounts(mixed)] == ["/x", "/z", "/x/y", "/x/y/z"]


def test_round_trip_through_json(svc, tmp_path):
    res = resolve_mounts({"Binds": ["data:/data", "/anon", f"{tmp_path}:/h"],
                          "Tmpfs": {"/run": ""}}, None, CID, svc)  # fmt: skip
    again = ResolvedMounts.from_dict(json.loads(json.dumps(res.to_dict())))
    assert again == res
    assert ResolvedMounts.from_dict(None) == ResolvedMounts()
    assert ResolvedMounts.from_dict({"volumes": ["x"], "later": 1}).volumes == ["x"]


def test_same_volume_twice_is_one_reference(svc):
    res = resolve_mounts({"Binds": ["data:/a", "data:/b:ro"]}, None, CID, svc)
    assert res.volumes == ["data"] and svc.users("data") == [CID]
    assert [m.options[-1] for m in res.mounts] == ["rprivate", "ro"]


def test_life_cycle_start_stop_release(svc, tmp_path):
    src = tmp_path / "src"
    other = "d" * 64
    res = resolve_mounts({"Binds": [f"{src}:/s", "keep:/k", "/anon"]}, None, CID, svc)
    (anon,) = res.anonymous
    svc.acquire(anon, other)  # as --volumes-from would
    src.rmdir()
    mounts = start_mounts(res, svc, CID)
    assert src.is_dir()  # Docker creates a -v source again at start
    assert mounts == res.mounts and mounts is not res.mounts
    assert svc.get("keep").mounted_by == []  # tracked only for volumes that mount a fs
    stop_mounts(res, svc, CID)
    assert release_mounts(res, svc, CID, remove_anonymous=True) == []  # still used by other
    assert svc.users("keep") == [] and svc.users(anon) == [other]
    svc.release(anon, other)
    res2 = resolve_mounts({"Binds": ["keep:/k", "/anon2"]}, None, CID, svc)
    assert release_mounts(res2, svc, CID, remove_anonymous=True) == res2.anonymous
    assert "keep" in names(svc) and res2.anonymous[0] not in names(svc)


def test_release_without_remove_keeps_anonymous(svc):
    res = resolve_mounts({"Binds": ["/anon"]}, None, CID, svc)
    assert release_mounts(res, svc, CID) == []
    v = svc.get(res.anonymous[0])
    assert v.labels == {ANONYMOUS_LABEL: ""} and not v.in_use
    assert svc.prune() == ([v.name], 0)


def test_bad_host_config_shapes(svc):
    with pytest.raises(InvalidMountConfig, match="HostConfig.Binds must be a list"):
        resolve_mounts({"Binds": "a:/b"}, None, CID, svc)
    with pytest.raises(InvalidMountConfig, match="HostConfig.Tmpfs must map"):
        resolve_mounts({"Tmpfs": ["/x"]}, None, CID, svc)
    with pytest.raises(InvalidMountConfig, match=re.escape("image volume 'rel'")):
        resolve_mounts({}, {"rel": {}}, CID, svc)


def test_directory_onto_a_file_of_the_image_is_refused_at_create(svc, rootfs, tmp_path):
    with pytest.raises(InvalidMountConfig, match=r"-v\) 'v1:/file': cannot mount a directory"):
        resolve_mounts({"Binds": ["v1:/file"]}, None, CID, svc, rootfs)
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("h")
    with pytest.raises(InvalidMountConfig, match="cannot mount a file onto a directory: /data"):
        resolve_mounts({"Binds": [f"{hostfile}:/data"]}, None, CID, svc, rootfs)
    assert names(svc) == []
    # fine: a file onto a file, and anything below a mount that hides the image's content
    res = resolve_mounts({"Binds": [f"{hostfile}:/file", "v2:/data/file"],
                          "Tmpfs": {"/data": ""}}, None, CID, svc, rootfs)  # fmt: skip
    assert res.volumes == ["v2"]
