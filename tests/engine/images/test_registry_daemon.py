"""Registries through real daemons: shoal push, pull into a fresh daemon and run, login,
the Docker SDK, skopeo reading what shoal pushed, shoal pulling what skopeo pushed."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import registry_fixture as rf  # loaded by conftest.py

from shoal.engine.runtime.cgroups import CgroupManager
from tests.daemon import (
    Daemon,
    cgroup_dirs,
    links_named,
    mounts_under,
    processes_with_cwd_or_arg,
    rules_tagged,
)

pytestmark = pytest.mark.root
needs_skopeo = pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo is not installed")
needs_umoci = pytest.mark.skipif(not shutil.which("umoci"), reason="umoci is not installed")


@contextlib.contextmanager
def shoald(root: Path) -> Iterator[Daemon]:
    """Start a private shoald; stop it and check it leaked nothing."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    d = Daemon(root, f"shoal-test-{uuid.uuid4().hex[:8]}")
    d.start()
    try:
        yield d
    finally:
        d.cleanup_containers()
        d.stop()
        d.teardown_network()
        CgroupManager().destroy(d.cgroup_parent)
        assert links_named((f"s{d.tag}", f"v{d.tag}")) == [], "links leaked"
        assert rules_tagged(d.net_opts["rule_tag"]) == [], "iptables rules leaked"
        assert mounts_under(str(root)) == [], "mounts leaked"
        assert cgroup_dirs(d.cgroup_parent) == [], "cgroups leaked"
        assert processes_with_cwd_or_arg(str(d.run)) == [], "shim processes leaked"


@pytest.fixture(scope="module")
def pusher(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Iterator[Daemon]:
    with shoald(tmp_path_factory.mktemp("pusher")) as d:
        d.cli("import", "--change", "CMD [\"sh\"]", str(busybox_tar), "bb:1", check=True)
        yield d


def _store_empty(d: Daemon) -> None:
    images = d.data / "images"
    assert os.listdir(images / "tmp") == []
    assert os.listdir(images / "images") == []
    assert os.listdir(images / "blobs" / "sha256") == []


def test_push_pull_run_in_a_fresh_daemon(pusher: Daemon, registry, tmp_path: Path) -> None:
    ref = f"{registry.host}/shoal/bb:1"
    pusher.cli("tag", "bb:1", ref, check=True)
    out = pusher.cli("push", ref, check=True).stdout
    assert f"The push refers to repository [{ref[:-2]}]" in out
    assert ": Pushed" in out and "1: digest: sha256:" in out
    digest = out.split("digest: ")[1].split()[0]

    with shoald(tmp_path / "puller") as d:
        r = d.cli("run", "--rm", ref, "echo", "pulled and ran", check=True)
        assert "pulled and ran" in r.stdout
        assert f"Unable to find image '{ref}' locally" in r.stderr
        assert "Pull complete" in r.stderr and f"Digest: {digest}" in r.stderr
        st, info = d.api("GET", f"/images/{ref}/json")
        assert st == 200 and f"{registry.host}/shoal/bb@{digest}" in info["RepoDigests"]
        d.cli("rmi", ref, check=True)
        r = d.cli("pull", f"{registry.host}/shoal/bb@{digest}", check=True)
        assert r.stdout.strip().endswith(f"{registry.host}/shoal/bb@{digest}")

        # errors keep their HTTP status through the API and leave nothing behind
        d.cli("rmi", f"{registry.host}/shoal/bb@{digest}", check=True)
        r = d.cli("pull", f"{registry.host}/shoal/nothing:1")
        assert r.returncode != 0 and "manifest unknown" in r.stderr
        st, body = d.api("POST", f"/images/create?fromImage={registry.host}/shoal/nothing&tag=1")
        assert st == 404 and "manifest unknown" in body["message"]
        _store_empty(d)


def test_login_push_pull_with_htpasswd(pusher: Daemon, registry_factory, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    reg = registry_factory("htpasswd")
    monkeypatch.setenv("SHOAL_CONFIG", str(tmp_path / "cfg"))
    ref = f"{reg.host}/private/bb:1"
    pusher.cli("tag", "bb:1", ref, check=True)
    r = pusher.cli("push", ref)
    assert r.returncode != 0 and f"authentication required for {reg.host}/private/bb" in r.stderr
    r = pusher.cli("login", "-u", rf.USER, "--password-stdin", reg.host, input=b"wrong\n")
    assert r.returncode != 0 and "unauthorized" in r.stderr
    assert not (tmp_path / "cfg" / "config.json").exists()
    r = pusher.cli("login", "-u", rf.USER, "--password-stdin", reg.host,
                   input=rf.PASSWORD.encode() + b"\n", check=True)
    assert "Login Succeeded" in r.stdout
    cfg = tmp_path / "cfg" / "config.json"
    assert cfg.stat().st_mode & 0o777 == 0o600
    assert json.loads(cfg.read_text())["auths"][reg.host]["auth"]
    pusher.cli("push", ref, check=True)
    with shoald(tmp_path / "puller") as d:
        d.cli("pull", ref, check=True)
        assert "Removing login credentials" in d.cli("logout", reg.host, check=True).stdout
        d.cli("rmi", ref, check=True)
        r = d.cli("pull", ref)
        assert r.returncode != 0 and "authentication required" in r.stderr
        _store_empty(d)


def test_docker_sdk_login_push_pull(pusher: Daemon, registry_factory, tmp_path: Path) -> None:
    docker = pytest.importorskip("docker")
    reg = registry_factory("htpasswd")
    client = docker.DockerClient(base_url=pusher.host, version="1.44")
    auth = {"username": rf.USER, "password": rf.PASSWORD}
    assert client.login(rf.USER, rf.PASSWORD, registry=reg.host)["Status"] == "Login Succeeded"
    with pytest.raises(docker.errors.APIError) as info:
        client.login(rf.USER, "bad", registry=reg.host, reauth=True)
    assert info.value.status_code == 401
    client.images.get("bb:1").tag(f"{reg.host}/sdk/bb", "2")
    lines = list(client.images.push(f"{reg.host}/sdk/bb", "2", auth_config=auth, stream=True,
                                    decode=True))
    assert any("aux" in m and m["aux"]["Tag"] == "2" for m in lines), lines
    assert not any("error" in m for m in lines)
    with shoald(tmp_path / "puller") as d:
        other = docker.DockerClient(base_url=d.host, version="1.44")
        img = other.images.pull(f"{reg.host}/sdk/bb", tag="2", auth_config=auth)
        assert f"{reg.host}/sdk/bb:2" in img.tags
        with pytest.raises(docker.errors.APIError) as info:
            other.images.pull(f"{reg.host}/sdk/bb", tag="2")
        assert info.value.status_code == 401


def _manifest_layers(d: Daemon, digest: str) -> list[str]:
    """Return the layer digests of a manifest in D's content store."""
    blob = d.data / "images" / "blobs" / "sha256" / digest.split(":")[1]
    return [x["digest"] for x in json.loads(blob.read_text())["layers"]]


@needs_skopeo
def test_skopeo_reads_what_shoal_pushed(pusher: Daemon, registry, tmp_path: Path) -> None:
    ref = f"{registry.host}/skopeo/bb:1"
    pusher.cli("tag", "bb:1", ref, check=True)
    pusher.cli("push", ref, check=True)
    info = json.loads(subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True, text=True, check=True).stdout)
    st, local = pusher.api("GET", f"/images/{ref}/json")
    assert info["Digest"] in [d.split("@")[1] for d in local["RepoDigests"]]
    assert info["Layers"] == _manifest_layers(pusher, info["Digest"])
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}",
                    f"oci:{tmp_path / 'copy'}:bb"], capture_output=True, check=True)
    index = json.loads((tmp_path / "copy" / "index.json").read_text())
    copied = index["manifests"][0]["digest"].split(":")[1]
    m = json.loads((tmp_path / "copy" / "blobs" / "sha256" / copied).read_text())
    assert m["config"]["digest"] == local["Id"]  # the same image, whole and verified by skopeo


@needs_skopeo
@needs_umoci
def test_shoal_pulls_and_runs_what_skopeo_pushed(registry, busybox_tar: Path,
                                                 tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    with tarfile.open(busybox_tar) as tar:
        tar.extractall(rootfs, filter="fully_trusted")
    layout = tmp_path / "layout"

    def run(*args: str | Path) -> None:
        subprocess.run([str(a) for a in args], capture_output=True, check=True, timeout=120)

    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:bb")
    run("umoci", "insert", "--image", f"{layout}:bb", rootfs, "/")
    run("umoci", "config", "--image", f"{layout}:bb", "--config.cmd=sh",
        "--config.env=MADE_BY=umoci")
    ref = f"{registry.host}/umoci/bb:1"
    run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:bb", f"docker://{ref}")
    with shoald(tmp_path / "puller") as d:
        r = d.cli("run", "--rm", ref, "sh", "-c", "echo $MADE_BY", check=True)
        assert r.stdout.strip() == "umoci"
