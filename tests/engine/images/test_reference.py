import pytest

from shoal.engine.images import reference as refs
from shoal.engine.images.errors import InvalidReference


@pytest.mark.parametrize(
    ("given", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
        ("localhost:5000/x/y:tag", "localhost:5000/x/y:tag", "localhost:5000/x/y:tag"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("ghcr.io/o/r", "ghcr.io/o/r:latest", "ghcr.io/o/r:latest"),
        ("[::1]:5000/a", "[::1]:5000/a:latest", "[::1]:5000/a:latest"),
        ("a.b-c/d__e.f-g", "a.b-c/d__e.f-g:latest", "a.b-c/d__e.f-g:latest"),
    ],
)
def test_normalise_and_display(given: str, full: str, familiar: str) -> None:
    r = refs.parse(given)
    assert str(r) == full
    assert r.familiar() == familiar


def test_digest_reference_keeps_no_default_tag() -> None:
    d = "sha256:" + "ab" * 32
    r = refs.parse(f"busybox@{d}")
    assert r.tag is None and r.digest == d
    assert str(r) == f"docker.io/library/busybox@{d}"
    assert r.familiar() == f"busybox@{d}"
    both = refs.parse(f"x/y:1@{d}")
    assert both.tag == "1" and both.digest == d


def test_bare_name_without_default_tag() -> None:
    assert refs.parse("busybox", default_tag=False).name_only()


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("", "empty"),
        ("Busybox", "lowercase"),
        ("foo/Bar", "lowercase"),
        ("busybox:", "tag"),
        ("busybox:-x", "tag"),
        ("a" * 64, "64-byte hexadecimal"),
        ("busybox@sha256:abc", "digest"),
        ("busy box", "repository name"),
        ("x//y", "repository name"),
        ("-x/y", "repository name"),
        (":tag", "repository"),
        ("x/" + "a" * 260, "255"),
    ],
)
def test_invalid_references(bad: str, words: str) -> None:
    with pytest.raises(InvalidReference, match=words):
        refs.parse(bad)


def test_try_parse_and_tags() -> None:
    assert refs.try_parse("NOPE") is None
    assert refs.is_valid_tag("v1.0_rc-2")
    assert not refs.is_valid_tag(".x")
