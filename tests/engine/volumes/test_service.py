"""Unit tests of VolumeService: create, list filters, inspect, remove, prune, references."""

from __future__ import annotations

import json
import re

import pytest

from shoal.engine.errors import Conflict, InvalidArgument, NotFound
from shoal.engine.volumes import ANONYMOUS_LABEL, VolumeService
from shoal.engine.volumes.errors import (
    DriverNotFound,
    InvalidFilter,
    InvalidVolumeName,
    InvalidVolumeOption,
    VolumeInUse,
    VolumeNotFound,
)


@pytest.fixture
def svc(tmp_path):
    return VolumeService(tmp_path / "volumes")


def test_create_named_lays_out_like_docker(svc, tmp_path):
    v = svc.create("data", labels={"a": "1"})
    assert v.name == "data" and v.driver == "local"
    assert v.mountpoint == str(tmp_path / "volumes" / "data" / "_data")
    assert (tmp_path / "volumes" / "data" / "_data").is_dir()
    meta = json.loads((tmp_path / "volumes" / "data" / "volume.json").read_text())
    assert meta["Name"] == "data" and meta["Labels"] == {"a": "1"} and meta["Refs"] == []


def test_create_random_name_is_64_hex(svc):
    v = svc.create()
    assert re.fullmatch(r"[0-9a-f]{64}", v.name)
    assert svc.get(v.name).name == v.name


@pytest.mark.parametrize("name", ["a", "-x", ".x", "a/b", "a b", "ab$", "/abs", ""])
def test_create_refuses_bad_names(svc, name):
    with pytest.raises(InvalidVolumeName, match="invalid characters for a local volume name"):
        svc.create(name)
    assert svc.list() == []


def test_create_refuses_names_too_long_for_a_directory(svc):
    assert svc.create("n" * 255).name == "n" * 255
    with pytest.raises(InvalidVolumeName, match="longer than 255"):
        svc.create("n" * 256)


def test_create_existing_returns_it_unchanged(svc):
    a = svc.create("data", labels={"x": "1"})
    b = svc.create("data", labels={"y": "2"})
    assert b.name == a.name and b.labels == {"x": "1"} and b.created_at == a.created_at
    assert [v.name for v in svc.list()] == ["data"]


def test_create_with_reference_is_atomic(svc):
    v, created = svc.ensure("data", reference="c1")
    assert created and v.refs == ["c1"]
    v, created = svc.ensure("data", reference="c2")
    assert not created and v.refs == ["c1", "c2"]


@pytest.mark.parametrize("driver", ["nfs", "rexray"])
def test_other_drivers_are_not_found(svc, driver):
    with pytest.raises(DriverNotFound, match=f'plugin "{driver}" not found') as exc:
        svc.create("data", driver=driver)
    assert isinstance(exc.value, NotFound)
    assert not svc.exists("data")


def test_empty_driver_means_local(svc):
    assert svc.create("data", driver="").driver == "local"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"foo": "bar"}, "invalid option: 'foo'"),
        ({"type": "tmpfs"}, "missing required option: 'device'"),
        ({"device": "tmpfs"}, "missing required option: 'type'"),
        ({"o": "size=1m"}, "missing required option: 'device'"),
        ({"size": "1G"}, "no quota support"),
        ({"type": 1}, "must map strings to strings"),
    ],
)
def test_local_driver_options_validated(svc, options, message):
    with pytest.raises(InvalidVolumeOption, match=re.escape(message)) as exc:
        svc.create("data", options=options)
    assert isinstance(exc.value, InvalidArgument)
    assert not svc.exists("data")


def test_options_kept_and_inspected(svc):
    v = svc.create("tm", options={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    assert v.needs_mount
    j = svc.inspect_json(v)
    assert j["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}


def test_inspect_json_is_dockers_shape(svc):
    v = svc.create("data", labels={"k": "v"})
    j = svc.inspect_json(v)
    assert set(j) == {"CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"}
    assert (j["Name"], j["Driver"], j["Scope"], j["Labels"], j["Options"]) == (
        "data", "local", "local", {"k": "v"}, {},
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", j["CreatedAt"])
    (v.dir / "_data" / "f").write_bytes(b"x" * 1000)
    svc.acquire("data", "c1")
    assert svc.inspect_json("data", usage=True)["UsageData"] == {"Size": 1000, "RefCount": 1}


def test_get_missing_is_not_found(svc):
    with pytest.raises(VolumeNotFound, match="get nope: no such volume"):
        svc.get("nope")


def test_list_filters(svc):
    svc.create("alpha", labels={"env": "prod", "team": "a"})
    svc.create("beta", labels={"env": "dev"})
    svc.create("gamma")
    svc.acquire("beta", "c1")

    def names(f):
        return [v.name for v in svc.list(f)]

    assert names(None) == ["alpha", "beta", "gamma"]
    assert names({"dangling": ["true"]}) == ["alpha", "gamma"]
    assert names({"dangling": ["false"]}) == ["beta"]
    assert names({"dangling": {"1": True}}) == ["alpha", "gamma"]  # the old map form
    assert names({"name": ["a"]}) == ["alpha", "beta", "gamma"]  # substring, like Docker
    assert names({"name": ["^al"]}) == ["alpha"]
    assert names({"name": ["alpha", "gamma"]}) == ["alpha", "gamma"]
    assert names({"label": ["env"]}) == ["alpha", "beta"]
    assert names({"label": ["env=prod"]}) == ["alpha"]
    assert names({"label": ["env=prod", "team=b"]}) == []  # every label filter must match
    assert names('{"driver": ["local"]}') == ["alpha", "beta", "gamma"]
    assert names({"driver": ["nfs"]}) == []


@pytest.mark.parametrize(
    ("filters", "message"),
    [({"size": ["1"]}, "invalid filter 'size'"), ({"dangling": ["maybe"]}, "dangling=maybe"),
     ("{nope", "not JSON")],
)  # fmt: skip
def test_list_bad_filters(svc, filters, message):
    with pytest.raises(InvalidFilter, match=re.escape(message)):
        svc.list(filters)


def test_remove_refused_while_in_use_names_containers(svc, tmp_path):
    svc.create("data")
    svc.acquire("data", "c1" * 32)
    svc.acquire("data", "c2" * 32)
    with pytest.raises(VolumeInUse) as exc:
        svc.remove("data")
    assert isinstance(exc.value, Conflict)
    assert exc.value.containers == ["c1" * 32, "c2" * 32]
    assert str(exc.value) == f"remove data: volume is in use - [{'c1' * 32}, {'c2' * 32}]"
    with pytest.raises(VolumeInUse):
        svc.remove("data", force=True)  # force does not override use, as in Docker
    svc.release("data", "c1" * 32)
    svc.release("data", "c2" * 32)
    svc.remove("data")
    assert not svc.exists("data")
    assert list((tmp_path / "volumes").iterdir()) == []


def test_remove_missing(svc):
    with pytest.raises(VolumeNotFound):
        svc.remove("nope")
    svc.remove("nope", force=True)


def test_acquire_is_idempotent_and_release_tolerant(svc):
    svc.create("data")
    svc.acquire("data", "c1")
    svc.acquire("data", "c1")
    assert svc.users("data") == ["c1"]
    svc.release("data", "c2")
    svc.release("gone", "c1")
    svc.release("data", "c1")
    assert svc.users("data") == []
    with pytest.raises(VolumeNotFound):
        svc.acquire("gone", "c1")


def test_references_survive_restart(tmp_path):
    root = tmp_path / "volumes"
    VolumeService(root).create("data", reference="c1")
    svc2 = VolumeService(root)
    assert svc2.users("data") == ["c1"]
    with pytest.raises(VolumeInUse):
        svc2.remove("data")
    assert svc2.prune({"all": ["true"]}) == ([], 0)


def test_prune_only_anonymous_unless_all(svc):
    anon = svc.create(labels={ANONYMOUS_LABEL: ""})
    used_anon = svc.create(labels={ANONYMOUS_LABEL: ""}, reference="c1")
    svc.create("named")
    (anon.dir / "_data" / "f").write_bytes(b"y" * 300)
    assert anon.anonymous and not svc.get("named").anonymous
    names, size = svc.prune()
    assert names == [anon.name] and size == 300
    assert {v.name for v in svc.list()} == {used_anon.name, "named"}
    names, size = svc.prune({"all": ["true"]})
    assert names == ["named"] and size == 0
    assert [v.name for v in svc.list()] == [used_anon.name]


def test_prune_label_filters(svc):
    svc.create("keep", labels={"keep": "1"})
    svc.create("tmp1", labels={"tmp": "yes"})
    svc.create("tmp2", labels={"tmp": "no"})
    assert svc.prune({"all": ["1"], "label": ["tmp=yes"]})[0] == ["tmp1"]
    assert svc.prune({"all": ["true"], "label!": ["keep"]})[0] == ["tmp2"]
    assert [v.name for v in svc.list()] == ["keep"]
    with pytest.raises(InvalidFilter):
        svc.prune({"dangling": ["true"]})


def test_reconcile_rebuilds_references(svc):
    svc.create("va", reference="gone")
    svc.create("vb", reference="c1")
    svc.create("vc")
    svc.reconcile({"c1": ["vb", "vc"], "c2": ["va"]})
    assert (svc.users("va"), svc.users("vb"), svc.users("vc")) == (["c2"], ["c1"], ["c1"])


def test_half_created_and_trashed_dirs_are_cleaned_at_start(tmp_path):
    root = tmp_path / "volumes"
    svc = VolumeService(root)
    svc.create("ok")
    (root / "half" / "_data").mkdir(parents=True)
    (root / ".trash-old-1234" / "_data").mkdir(parents=True)
    (root / "foreign").mkdir()
    (root / "foreign" / "file").write_text("keep me")
    svc2 = VolumeService(root)
    assert [v.name for v in svc2.list()] == ["ok"]
    assert not (root / "half").exists() and not (root / ".trash-old-1234").exists()
    assert (root / "foreign" / "file").exists()  # unknown data is never deleted
    with pytest.raises(Exception, match="holds no volume record"):
        svc2.create("foreign")
