"""`--with-registry-auth` and `--resolve-image` of service create/update and stack deploy:
the stored credentials go as X-Registry-Auth only when asked, the mode as resolveImage."""

from __future__ import annotations

import base64
import json

import pytest

from shoal.cli.commands.stack import spec_changed
from tests.cli.fakeswarm import install

REG = "127.0.0.1:5000"
DIGEST = "sha256:" + "ef" * 32


@pytest.fixture
def logged_in(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOAL_CONFIG", str(tmp_path / "cfg"))
    (tmp_path / "cfg").mkdir()
    auth = base64.b64encode(b"tester:s3cret").decode()
    (tmp_path / "cfg" / "config.json").write_text(json.dumps({"auths": {REG: {"auth": auth}}}))


def _auth_of(req) -> dict[str, str] | None:
    raw = req.headers.get("x-registry-auth")
    return None if raw is None else json.loads(base64.urlsafe_b64decode(raw + "=="))


def test_create_and_update_send_credentials_only_when_asked(daemon, shoal, logged_in):
    install(daemon)
    r = shoal("service", "create", "-d", "--name", "web", f"{REG}/app:1.0")
    assert r.code == 0, r
    create = next(q for q in daemon.requests if q.path == "/services/create")
    assert _auth_of(create) is None and "resolveImage" not in create.query
    r = shoal("service", "create", "-d", "--name", "api", "--with-registry-auth",
              "--resolve-image", "always", f"{REG}/app:1.0")
    assert r.code == 0, r
    create = [q for q in daemon.requests if q.path == "/services/create"][-1]
    assert _auth_of(create) == {"serveraddress": REG, "username": "tester",
                                "password": "s3cret"}
    assert create.query["resolveImage"] == ["always"]
    r = shoal("service", "update", "-d", "--with-registry-auth", "--resolve-image", "never",
              "--image", f"{REG}/app:2.0", "api")
    assert r.code == 0, r
    upd = daemon.requests[-1]
    assert upd.path.endswith("/update") and _auth_of(upd)["username"] == "tester"
    assert upd.query["resolveImage"] == ["never"]


def test_resolve_image_takes_dockers_values_only(daemon, shoal):
    install(daemon)
    r = shoal("service", "create", "-d", "--resolve-image", "sometimes", "busybox")
    assert r.code != 0 and "--resolve-image" in r.err


def test_stack_deploy_does_not_update_a_service_only_pinned_by_the_manager():
    deployed = {"Name": "s_web", "TaskTemplate": {"ContainerSpec": {
        "Image": f"{REG}/app:1.0@{DIGEST}"}}}
    wanted = {"Name": "s_web", "TaskTemplate": {"ContainerSpec": {"Image": f"{REG}/app:1.0"}}}
    assert not spec_changed(deployed, wanted)
    assert spec_changed(deployed, wanted, pinned_ok=False)  # --resolve-image always
    wanted["TaskTemplate"]["ContainerSpec"]["Image"] = f"{REG}/app:1.1"
    assert spec_changed(deployed, wanted)
