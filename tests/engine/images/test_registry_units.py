"""Unit tests of the registry client's logic: challenges, endpoints, credentials, progress."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from shoal.engine.errors import InvalidArgument
from shoal.engine.images.registry import challenge, credentials, endpoint, progress
from shoal.engine.images.registry.errors import describe_errors


def test_bearer_challenge_with_quoted_params() -> None:
    (c,) = challenge.parse(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull,push"'
    )
    assert c.scheme == "bearer"
    assert c.realm == "https://auth.docker.io/token"
    assert c.params["scope"] == "repository:library/busybox:pull,push"


def test_several_challenges_and_escapes() -> None:
    cs = challenge.parse('Basic realm="say \\"hi\\"", Bearer realm=tok, service=x')
    assert [c.scheme for c in cs] == ["basic", "bearer"]
    assert cs[0].realm == 'say "hi"'
    assert cs[1].params == {"realm": "tok", "service": "x"}
    assert challenge.pick(cs).scheme == "bearer"  # type: ignore[union-attr]
    assert challenge.pick(challenge.parse("Negotiate")) is None
    assert challenge.parse("") == []


@pytest.mark.parametrize(("host", "insecure", "scheme"), [
    ("127.0.0.1:5000", [], "http"),
    ("127.9.9.9", [], "http"),
    ("localhost:5000", [], "http"),
    ("[::1]:5000", [], "http"),
    ("registry.example:5000", [], "https"),
    ("registry.example:5000", ["registry.example:5000"], "http"),
    ("registry.example:5000", ["registry.example"], "http"),
    ("10.1.2.3:5000", ["10.0.0.0/8"], "http"),
    ("10.1.2.3:5000", ["192.168.0.0/16"], "https"),
    ("docker.io", [], "https"),
])
def test_endpoint_policy(host: str, insecure: list[str], scheme: str, tmp_path: Path) -> None:
    assert endpoint.resolve(host, insecure, tmp_path).scheme == scheme


def test_docker_hub_api_host_and_certs_d(tmp_path: Path) -> None:
    assert endpoint.resolve("docker.io", [], tmp_path).base_url == (
        "https://registry-1.docker.io/v2/")
    from registry_fixture import CA  # loaded by conftest.py

    ca = CA(tmp_path)
    (tmp_path / "certs.d" / "127.0.0.1:5000").mkdir(parents=True)
    (tmp_path / "certs.d" / "127.0.0.1:5000" / "ca.crt").write_bytes(ca.cert_path.read_bytes())
    e = endpoint.resolve("127.0.0.1:5000", [], tmp_path / "certs.d")
    assert e.scheme == "https" and e.ssl is not None  # a CA in certs.d asks for TLS


def test_x_registry_auth_header() -> None:
    payload = {"username": "u", "password": "p:w", "serveraddress": "https://h:5000/v2/"}
    raw = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    c = credentials.from_header(raw)
    assert (c.username, c.password) == ("u", "p:w")
    assert credentials.normalize_server(c.server) == "h:5000"
    assert not credentials.from_header("e30=")  # "{}": anonymous
    assert not credentials.from_header(None)
    token = base64.urlsafe_b64encode(b'{"identitytoken":"t"}').decode()
    assert credentials.from_header(token).identity_token == "t"
    with pytest.raises(InvalidArgument, match="X-Registry-Auth"):
        credentials.from_header("%%%")
    assert credentials.normalize_server("https://index.docker.io/v1/") == "docker.io"


def test_identity_never_holds_the_secret() -> None:
    a = credentials.Credentials("u", "secret")
    assert "secret" not in a.identity()
    assert a.identity() != credentials.Credentials("u", "x").identity()


def test_progress_bar_and_sizes() -> None:
    assert progress.human_size(1024) == "1.024kB"
    assert progress.human_size(52_428_800) == "52.43MB"
    assert progress.human_size(12) == "12B"
    text = progress.bar(50, 100)
    assert text.startswith("[" + "=" * 24 + ">") and text.endswith("50B/100B")
    assert progress.bar(100, 100).startswith("[" + "=" * 50 + "]")


def test_progress_is_throttled() -> None:
    seen: list[dict] = []
    p = progress.LayerProgress(seen.append, "Downloading", "sha256:" + "ab" * 32, 100)
    for i in range(100):
        p.update(i)
    p.update(100, force=True)
    assert 2 <= len(seen) < 50
    assert seen[-1] == {"status": "Downloading", "id": "abababababab",
                        "progressDetail": {"current": 100, "total": 100},
                        "progress": progress.bar(100, 100)}


def test_registry_error_bodies() -> None:
    body = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"},
                       {"code": "DENIED", "message": "no way"}]}
    assert describe_errors(body) == "manifest unknown; denied: no way"
    assert describe_errors({"x": 1}) == ""
