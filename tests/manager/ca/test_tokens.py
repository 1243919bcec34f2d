"""Join tokens: Docker's format, parsing errors that say what is wrong, rotation."""

from __future__ import annotations

import re

import pytest

from shoal.manager.ca import (
    InvalidJoinToken,
    RootCA,
    generate_join_token,
    parse_join_token,
    rotate_join_token,
)


@pytest.fixture(scope="module")
def root() -> RootCA:
    return RootCA.create()


def test_format_is_dockers(root: RootCA) -> None:
    token = generate_join_token(root.digest)
    assert re.fullmatch(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}", token)
    parsed = parse_join_token(token)
    assert parsed.ca_digest == root.digest
    assert parsed.version == "1"
    assert str(parsed) == token
    assert parsed.matches_ca(root.cert_pem)
    assert not parsed.matches_ca(RootCA.create().cert_pem)


def test_tokens_differ_by_secret_and_rotation_keeps_the_digest(root: RootCA) -> None:
    a, b = generate_join_token(root.digest), generate_join_token(root.digest)
    assert a != b and a[:59] == b[:59]
    rotated = rotate_join_token(a)
    assert rotated != a
    assert parse_join_token(rotated).ca_digest == root.digest


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: "", "the token is empty"),
        (lambda t: t.replace("SWMTKN", "SWMTKX"), "must start with SWMTKN-"),
        (lambda t: t + "-extra", "got 5 dash-separated parts instead of 4"),
        (lambda t: t.replace("SWMTKN-1-", "SWMTKN-2-"), "version '2' is not supported"),
        (lambda t: t[:12] + t[13:], "CA digest must be 50 base36 characters, not 49"),
        (lambda t: t[:12] + "A" + t[13:], "CA digest has characters outside 0-9 and a-z: 'A'"),
        (lambda t: t[:9] + "z" * 50 + t[59:], "CA digest is larger than 256 bits"),
        (lambda t: t[:-1], "secret must be 25 base36 characters, not 24"),
        (lambda t: t[:-1] + "_", "secret has characters outside 0-9 and a-z"),
    ],
)
def test_parse_errors_say_what_is_wrong(root: RootCA, mangle, message: str) -> None:
    with pytest.raises(InvalidJoinToken, match=re.escape(message)):
        parse_join_token(mangle(generate_join_token(root.digest)))
