"""The requests and output of `shoal volume ...`, against the fake daemon."""

from __future__ import annotations

import json


def test_create_bodies(daemon, shoal):
    r = shoal("volume", "create", "data")
    assert r.code == 0 and r.out == "data\n", r
    req = daemon.requests[-1]
    assert (req.method, req.path, req.raw_query) == ("POST", "/volumes/create", "")
    assert req.json() == {"Driver": "local", "Name": "data"}
    r = shoal("volume", "create", "-d", "local", "--label", "tier=db", "--label", "x",
              "-o", "type=tmpfs", "-o", "device=tmpfs", "--opt=o=size=64m", "cache")
    assert r.code == 0 and r.out == "cache\n", r
    assert daemon.requests[-1].json() == {
        "Driver": "local", "DriverOpts": {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"},
        "Labels": {"tier": "db", "x": ""}, "Name": "cache"}


def test_create_anonymous_prints_generated_name(daemon, shoal):
    r = shoal("volume", "create")
    assert r.code == 0, r
    assert daemon.requests[-1].json() == {"Driver": "local"}
    name = r.out.strip()
    assert len(name) == 64 and name in daemon.volumes
    r = shoal("volume", "create", "--name", "named")
    assert r.out == "named\n" and daemon.requests[-1].json()["Name"] == "named"


def test_create_errors(daemon, shoal):
    r = shoal("volume", "create", "--name", "a", "b")
    assert r.code == 1
    assert r.err == ("conflicting options: either specify --name or provide positional arg, "
                     "not both\n")
    r = shoal("volume", "create", "a", "b")
    assert r.code == 1 and '"shoal volume create" requires at most 1 argument.' in r.err
    r = shoal("volume", "create", "--label", "a b=c", "v")
    assert r.code == 125
    assert """invalid argument "a b=c" for "--label" flag: label 'a b' contains whitespaces""" \
        in r.err
    assert daemon.requests == []


def test_ls_table_quiet_filters(daemon, shoal):
    for name in ("vol10", "vol2", "alpha"):
        shoal("volume", "create", name)
    r = shoal("volume", "ls")
    assert r.code == 0, r
    req = daemon.requests[-1]
    assert (req.method, req.path, req.query) == ("GET", "/volumes", {})
    assert r.out.splitlines() == ["DRIVER    VOLUME NAME", "local     alpha", "local     vol2",
                                  "local     vol10"]
    r = shoal("volume", "ls", "-q", "-f", "dangling=true", "--filter", "label=tier")
    assert r.out == "alpha\nvol2\nvol10\n"
    assert json.loads(daemon.requests[-1].query["filters"][0]) == {
        "dangling": {"true": True}, "label": {"tier": True}}
    r = shoal("volume", "list", "--format", "{{.Name}} {{.Mountpoint}}")
    assert r.out.splitlines()[0] == "alpha /var/lib/shoal/volumes/alpha/_data"
    r = shoal("volume", "ls", "-f", "dangling")
    assert r.code == 125 and "bad format of filter (expected name=value)" in r.err


def test_ls_empty(daemon, shoal):
    daemon.route("GET", r"/volumes", lambda d, q: q.conn.respond(
        200, {"Volumes": None, "Warnings": None}))
    r = shoal("volume", "ls")
    assert r.code == 0 and r.out == "DRIVER    VOLUME NAME\n"


def test_inspect_and_missing(daemon, shoal):
    shoal("volume", "create", "data")
    r = shoal("volume", "inspect", "data")
    assert r.code == 0, r
    assert daemon.requests[-1].path == "/volumes/data"
    doc = json.loads(r.out)[0]
    assert doc["Name"] == "data" and doc["Driver"] == "local" and doc["Scope"] == "local"
    r = shoal("volume", "inspect", "-f", "{{.Mountpoint}}", "data")
    assert r.out == "/var/lib/shoal/volumes/data/_data\n"
    r = shoal("volume", "inspect", "data", "nope")
    assert r.code == 1 and len(json.loads(r.out)) == 1
    assert r.err == "Error response from daemon: get nope: no such volume\n"


def test_rm_force_and_errors(daemon, shoal):
    shoal("volume", "create", "a")
    shoal("volume", "create", "b")
    r = shoal("volume", "rm", "a", "nope", "b")
    assert r.code == 1 and r.out == "a\nb\n"
    assert r.err == "Error response from daemon: get nope: no such volume\n"
    assert daemon.requests[-3].method == "DELETE" and daemon.requests[-3].query == {}
    r = shoal("volume", "remove", "-f", "gone")
    assert r.code == 0 and r.out == "gone\n"
    req = daemon.requests[-1]
    assert (req.method, req.path, req.query) == ("DELETE", "/volumes/gone", {"force": ["1"]})


def test_prune_anonymous_then_all(daemon, shoal):
    shoal("volume", "create", "named")
    anon = shoal("volume", "create").out.strip()
    r = shoal("volume", "prune", "-f")
    assert r.code == 0, r
    req = daemon.requests[-1]
    assert (req.method, req.path, req.raw_query) == ("POST", "/volumes/prune", "")
    assert r.out == f"Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 1.235MB\n"
    r = shoal("volume", "prune", "-f", "-a")
    assert json.loads(daemon.requests[-1].query["filters"][0]) == {"all": {"true": True}}
    assert r.out == "Deleted Volumes:\nnamed\n\nTotal reclaimed space: 1.235MB\n"
    r = shoal("volume", "prune", "-f")
    assert r.out == "Total reclaimed space: 0B\n"


def test_prune_prompts(daemon, shoal):
    shoal("volume", "create", "named")
    n = len(daemon.requests)
    r = shoal("volume", "prune", stdin=b"\n")
    assert r.out == ("WARNING! This will remove anonymous local volumes not used by at least "
                     "one container.\nAre you sure you want to continue? [y/N] "
                     "Total reclaimed space: 0B\n")
    assert len(daemon.requests) == n
    r = shoal("volume", "prune", "--all", stdin=b"y\n")
    assert r.out.startswith("WARNING! This will remove all local volumes not used by at least "
                            "one container.\nAre you sure you want to continue? [y/N] "
                            "Deleted Volumes:\nnamed\n")
    r = shoal("volume", "prune", "-a", "--filter", "all=1")
    assert r.code == 1
    assert r.err == "conflicting options: cannot specify both --all and --filter all=1\n"
