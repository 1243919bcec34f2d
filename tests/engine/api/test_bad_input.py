"""Bad input: a clear error, a non-zero exit, and nothing left behind."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


def _no_containers(d):
    st, items = d.api("GET", "/containers/json?all=1")
    return items == []


def test_unknown_image(clean):
    r = clean.cli("run", "--rm", "nosuchimage", "true")
    assert r.returncode == 125
    assert "No such image" in r.stderr or "nosuchimage" in r.stderr
    assert _no_containers(clean)


def test_malformed_memory(clean):
    r = clean.cli("run", "--rm", "--memory", "12zb", "busybox", "true")
    assert r.returncode != 0 and "12zb" in r.stderr
    assert _no_containers(clean)


def test_bad_name(clean):
    r = clean.cli("run", "--name", "no good", "busybox", "true")
    assert r.returncode == 125 and "Invalid container name" in r.stderr
    assert _no_containers(clean)


def test_missing_command(clean, busybox_tar):
    clean.cli("import", str(busybox_tar), "nocmd:latest", check=True)
    r = clean.cli("run", "--rm", "nocmd")
    assert r.returncode == 125 and "No command specified" in r.stderr
    assert _no_containers(clean)
    clean.cli("rmi", "nocmd", check=True)


def test_command_not_found_leaks_nothing(clean):
    r = clean.cli("run", "--rm", "busybox", "/no/such/binary")
    assert r.returncode == 127
    assert "no such file or directory" in r.stderr.lower() or "not found" in r.stderr
    assert _no_containers(clean)
    r = clean.cli("run", "--name", "nf", "busybox", "nosuchcmd")
    assert r.returncode == 127 and "executable file not found" in r.stderr
    st, info = clean.api("GET", "/containers/nf/json")
    assert info["State"]["ExitCode"] == 127
    clean.cli("rm", "nf", check=True)


def test_exec_in_stopped_container(clean):
    cid = clean.cli("create", "busybox", "true").stdout.strip()
    r = clean.cli("exec", cid, "echo", "hi")
    assert r.returncode != 0 and "is not running" in r.stderr
    clean.cli("rm", cid, check=True)


def test_api_errors_are_json(clean):
    st, body = clean.api("GET", "/containers/nope/json")
    assert st == 404 and body == {"message": "No such container: nope"}
    st, body = clean.api("GET", "/no/such/route")
    assert st == 404 and "message" in body
    st, body = clean.api("POST", "/containers/create", {"Image": "busybox",
                                                       "HostConfig": {"Memory": 5}})
    assert st == 400 and "Minimum memory" in body["message"]
