"""Option values parsed as docker parses them."""

from __future__ import annotations

import pytest

from shoal.cli import opts


@pytest.mark.parametrize("value,expected", [
    ("0", 0), ("512", 512), ("512b", 512), ("512k", 512 << 10), ("512K", 512 << 10),
    ("256m", 256 << 20), ("256MB", 256 << 20), ("1g", 1 << 30), ("1GiB", 1 << 30),
    ("1.5g", 3 << 29), ("2t", 2 << 40), ("10 m", 10 << 20), ("1kib", 1024),
])
def test_parse_size(value, expected):
    assert opts.parse_size(value) == expected


@pytest.mark.parametrize("value", ["", "m", "12zb", "-1", "1.2.3", "1x", " 1m", "1m ", "\uff11m"])
def test_parse_size_rejects(value):
    with pytest.raises(ValueError, match=f"invalid size: '{value}'"):
        opts.parse_size(value)


@pytest.mark.parametrize("value,expected", [
    ("0.5", 500_000_000), ("2", 2_000_000_000), ("1.25", 1_250_000_000), (".5", 500_000_000),
    ("3/2", 1_500_000_000), ("0.000000001", 1), ("1.0000000000", 1_000_000_000),
])
def test_parse_cpus(value, expected):
    assert opts.parse_cpus(value) == expected


@pytest.mark.parametrize("value,message", [
    ("half", "failed to parse half as a rational number"),
    ("", "failed to parse  as a rational number"),
    ("1/0", "failed to parse 1/0 as a rational number"),
    ("0.0000000001", "value is too precise"),
    ("1/3", "value is too precise"),
])
def test_parse_cpus_rejects(value, message):
    with pytest.raises(ValueError, match=message):
        opts.parse_cpus(value)


def test_parse_env(monkeypatch):
    monkeypatch.setenv("FROM_HOST", "h")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    assert opts.parse_env("A=1=2") == "A=1=2"
    assert opts.parse_env("A=") == "A="
    assert opts.parse_env("FROM_HOST") == "FROM_HOST=h"
    assert opts.parse_env("UNSET_VAR") == "UNSET_VAR"
    with pytest.raises(ValueError, match="invalid environment variable: =x"):
        opts.parse_env("=x")


def test_env_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PASSED", "through")
    monkeypatch.delenv("ABSENT", raising=False)
    f = tmp_path / "env"
    f.write_bytes(b"\xef\xbb\xbf# comment\n\nA=1\n  B=spaced value \nPASSED\nABSENT\r\nC=\n")
    assert opts.read_env([str(f)], ["D=4"]) == ["A=1", "B=spaced value ", "PASSED=through",
                                               "C=", "D=4"]


def test_env_file_errors(tmp_path):
    f = tmp_path / "env"
    f.write_text("BAD KEY=1\n")
    with pytest.raises(ValueError, match="variable 'BAD KEY' contains whitespaces"):
        opts.read_env([str(f)], [])
    f.write_text("=value\n")
    with pytest.raises(ValueError, match="no variable name on line '=value'"):
        opts.read_env([str(f)], [])
    f.write_bytes(b"A=\xff\n")
    with pytest.raises(ValueError, match="invalid utf8"):
        opts.read_env([str(f)], [])
    with pytest.raises(ValueError, match="no such file"):
        opts.read_env([str(tmp_path / "missing")], [])


def test_labels(tmp_path):
    f = tmp_path / "labels"
    f.write_text("# c\nfrom=file\nbare\n")
    assert opts.parse_labels([str(f)], ["a=b=c", "from=flag"]) == {
        "from": "flag", "bare": "", "a": "b=c"}


@pytest.mark.parametrize("value", ["CMD [\"sh\"]", "env A=b", "  EXPOSE 80", "STOPSIGNAL SIGUSR1"])
def test_validate_change(value):
    assert opts.validate_change(value) == value


@pytest.mark.parametrize("value", ["FROM busybox", "RUN true", "", "COPY a b"])
def test_validate_change_rejects(value):
    with pytest.raises(ValueError, match="is not a valid change command"):
        opts.validate_change(value)


def test_restart_policy():
    assert opts.parse_restart("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert opts.parse_restart("always") == {"Name": "always", "MaximumRetryCount": 0}
    for bad in ("sometimes", "always:3", "on-failure:x"):
        with pytest.raises(ValueError):
            opts.parse_restart(bad)


def test_references():
    assert opts.split_reference("busybox") == ("busybox", "latest")
    assert opts.split_reference("localhost:5000/a/b") == ("localhost:5000/a/b", "latest")
    assert opts.split_reference("localhost:5000/a/b:v1") == ("localhost:5000/a/b", "v1")
    assert opts.split_reference("a@sha256:00") == ("a", "sha256:00")
    for ok in ("busybox", "my/img:Tag_1.0", "Registry.Local:5000/x/y:z"):
        opts.validate_reference(ok)
    for bad in ("Busybox", "a:b:c", "a//b", "a:", "a b", ":tag"):
        with pytest.raises(ValueError, match="invalid reference format"):
            opts.validate_reference(bad)
