"""Services from a registry on a cluster of two daemons: the manager pins the image to its
digest, each node pulls it, and credentials reach the agents only with --with-registry-auth.

The registry is Debian's docker-registry on loopback (tests/engine/images/registry_fixture.py).
The image is made here from the busybox rootfs plus a file of this test, pushed, and removed
from the manager, so that neither node has it before the service runs.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import tarfile
import urllib.parse
import uuid
from pathlib import Path

import pytest

from .test_multi_node import _token
from .test_single_host import _running, _wait

pytestmark = pytest.mark.root


def _registry_module():
    if "registry_fixture" in sys.modules:
        return sys.modules["registry_fixture"]
    path = Path(__file__).parents[1] / "engine" / "images" / "registry_fixture.py"
    spec = importlib.util.spec_from_file_location("registry_fixture", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["registry_fixture"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def registries(tmp_path):
    """Start docker-registry processes ("plain", "htpasswd"); stop them (by pid) after."""
    rf = _registry_module()
    started = []

    def start(variant: str = "plain"):
        reg = rf.Registry(tmp_path / f"registry-{variant}", variant)
        started.append(reg)
        return reg.start()

    yield start
    for reg in started:
        reg.stop()
        assert reg.proc is None or reg.proc.poll() is not None


@pytest.fixture
def two_nodes(cluster, tmp_path, monkeypatch):
    """A manager and a worker, both Ready; the CLI keeps its credentials under tmp_path."""
    monkeypatch.setenv("SHOAL_CONFIG", str(tmp_path / "shoal-config"))
    m = cluster.daemon("m1")
    m.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{m.port}", check=True)
    w = cluster.daemon("w1")
    w.cli("cluster", "join", "--token", _token(m, "worker"), "--advertise-addr",
          f"127.0.0.1:{w.port}", f"127.0.0.1:{m.port}", check=True)
    _wait(lambda: m.cli("node", "ls").stdout.count("Ready") == 2)
    return m, w


def _push_unique_image(m, busybox_tar: Path, tmp_path: Path, name: str) -> None:
    """Import busybox plus a stamp file as NAME, push it, then remove it from M."""
    tar = tmp_path / f"rootfs-{uuid.uuid4().hex[:6]}.tar"
    tar.write_bytes(busybox_tar.read_bytes())
    stamp = uuid.uuid4().hex.encode()
    with tarfile.open(tar, "a") as t:
        info = tarfile.TarInfo("stamp")
        info.size = len(stamp)
        t.addfile(info, io.BytesIO(stamp))
    m.cli("import", str(tar), name, check=True)
    r = m.cli("push", name)
    assert r.returncode == 0, r.stderr
    m.cli("rmi", name, check=True)
    assert m.cli("image", "inspect", name).returncode != 0


def _manifest_digest(reg, repo: str, tag: str, auth: bool = False) -> str:
    import base64
    import urllib.request

    rf = _registry_module()
    req = urllib.request.Request(
        f"http://{reg.host}/v2/{repo}/manifests/{tag}", method="HEAD",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                           "application/vnd.docker.distribution.manifest.v2+json"})
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(
            f"{rf.USER}:{rf.PASSWORD}".encode()).decode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(resp.headers["Docker-Content-Digest"])


def _image(m, service: str) -> str:
    return m.cli("service", "inspect", "--format",
                 "{{.Spec.TaskTemplate.ContainerSpec.Image}}", service,
                 check=True).stdout.strip()


def _has_image(d, tag: str, repo_digest: str) -> bool:
    for img in d.api("GET", "/images/json")[1] or []:
        if tag in (img.get("RepoTags") or []) and repo_digest in (img.get("RepoDigests") or []):
            return True
    return False


def _tasks(m, service: str) -> list[dict]:
    query = urllib.parse.quote(json.dumps({"service": [service]}))
    status, tasks = m.api("GET", f"/tasks?filters={query}")
    assert status == 200, tasks
    return list(tasks or [])


def test_service_from_a_registry_is_pinned_and_pulled_by_each_node(
        two_nodes, registries, busybox_tar, tmp_path):
    m, w = two_nodes
    reg = registries("plain")
    name = f"{reg.host}/app:1.0"
    _push_unique_image(m, busybox_tar, tmp_path, name)
    digest = _manifest_digest(reg, "app", "1.0")

    r = m.cli("service", "create", "-d", "--name", "app", "--mode", "global", name,
              "sleep", "1000")
    assert r.returncode == 0, r.stderr
    assert "could not be accessed" not in r.stderr
    assert _image(m, "app") == f"{name}@{digest}"  # pinned by the manager
    messages: set[str] = set()

    def running() -> bool:
        messages.update(t["Status"].get("Message", "") for t in _tasks(m, "app"))
        return _running(m, "app") == 2

    _wait(running, timeout=90)
    for d in (m, w):  # each node pulled it: tag and digest on both
        assert _has_image(d, name, f"{reg.host}/app@{digest}")
    ps = m.cli("service", "ps", "app").stdout
    assert ps.count("Running") >= 4, ps  # desired and current state of both tasks
    print("task messages seen:", sorted(messages))


def test_private_registry_needs_with_registry_auth(two_nodes, registries, busybox_tar,
                                                   tmp_path):
    m, w = two_nodes
    rf = _registry_module()
    reg = registries("htpasswd")
    r = m.cli("login", "-u", rf.USER, "--password-stdin", reg.host,
              input=rf.PASSWORD.encode())
    assert r.returncode == 0, r.stderr
    name = f"{reg.host}/secret:1.0"
    _push_unique_image(m, busybox_tar, tmp_path, name)
    digest = _manifest_digest(reg, "secret", "1.0", auth=True)

    # without credentials: the manager cannot pin it (Docker's warning), agents are refused
    r = m.cli("service", "create", "-d", "--name", "noauth", "--mode", "global", name,
              "sleep", "1000")
    assert r.returncode == 0, r.stderr
    assert f"image {name} could not be accessed on a registry" in r.stderr
    assert _image(m, "noauth") == name

    def rejected() -> list[dict]:
        return [t for t in _tasks(m, "noauth") if t["Status"]["State"] == "rejected"]

    tasks = _wait(rejected, timeout=60)
    err = tasks[0]["Status"].get("Err", "")
    assert f"No such image: {name}" in err and "unauthorized" in err, err
    m.cli("service", "rm", "noauth", check=True)

    # with them: pinned with the credentials, stored for the agents, never shown
    r = m.cli("service", "create", "-d", "--name", "withauth", "--mode", "global",
              "--with-registry-auth", name, "sleep", "1000")
    assert r.returncode == 0, r.stderr
    assert "could not be accessed" not in r.stderr
    assert _image(m, "withauth") == f"{name}@{digest}"
    _wait(lambda: _running(m, "withauth") == 2, timeout=90)
    for d in (m, w):
        assert _has_image(d, name, f"{reg.host}/secret@{digest}")
    shown = m.cli("service", "inspect", "withauth", check=True).stdout
    tasks_json = json.dumps(_tasks(m, "withauth"))
    for text in (shown, tasks_json):
        assert rf.PASSWORD not in text and "RegistryAuth" not in text
