"""The requests and output of `shoal network ...`, against the fake daemon."""

from __future__ import annotations

import json

import pytest

from tests.cli.fakenet import find_network


def test_create_minimal_body_and_prints_id(daemon, shoal):
    r = shoal("network", "create", "backend")
    assert r.code == 0, r
    req = daemon.requests[-1]
    assert (req.method, req.path, req.raw_query) == ("POST", "/networks/create", "")
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {
        "Name": "backend", "CheckDuplicate": True, "Driver": "bridge", "Scope": "",
        "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": {}, "Config": []},
        "Internal": False, "Attachable": False, "Ingress": False, "ConfigOnly": False,
        "ConfigFrom": None, "Options": {}, "Labels": {}}
    assert r.out == daemon.networks["backend"]["Id"] + "\n" and r.err == ""


def test_create_all_flags(daemon, shoal):
    r = shoal("network", "create", "-d", "overlay", "--subnet", "10.1.0.0/24",
              "--gateway=10.1.0.1", "--internal", "--attachable", "--label", "tier=db",
              "--label", "flag", "-o", "com.docker.network.driver.mtu=1400", "-o", "x",
              "--ip-range", "10.1.0.128/25", "--ipam-opt", "a=b", "data")
    assert r.code == 0, r
    b = daemon.requests[-1].json()
    assert b["Name"] == "data" and b["Driver"] == "overlay"
    assert b["Internal"] is True and b["Attachable"] is True
    assert b["Labels"] == {"tier": "db", "flag": ""}
    assert b["Options"] == {"com.docker.network.driver.mtu": "1400", "x": ""}
    assert b["IPAM"] == {"Driver": "default", "Options": {"a": "b"}, "Config": [
        {"Subnet": "10.1.0.0/24", "IPRange": "10.1.0.128/25", "Gateway": "10.1.0.1"}]}


def test_create_comma_separated_subnets(daemon, shoal):
    r = shoal("network", "create", "--subnet", "10.1.0.0/24,10.2.0.0/24", "--gateway",
              "10.2.0.254", "n")
    assert r.code == 0, r
    assert daemon.requests[-1].json()["IPAM"]["Config"] == [
        {"Subnet": "10.1.0.0/24"}, {"Subnet": "10.2.0.0/24", "Gateway": "10.2.0.254"}]


@pytest.mark.parametrize("args,code,message", [
    (["--subnet", "10.1.0.0"], 125,
     'invalid argument "10.1.0.0" for "--subnet" flag: invalid CIDR address: 10.1.0.0'),
    (["--subnet", "10.1.0.0/24", "--gateway", "10.1.0.256"], 125,
     'invalid argument "10.1.0.256" for "--gateway" flag: invalid string being converted '
     "to IP address: 10.1.0.256"),
    (["--subnet", "10.1.0.0/24", "--gateway", "10.9.0.1"], 1,
     "no matching subnet for gateway 10.9.0.1"),
    (["--gateway", "10.9.0.1"], 1, "every ip-range or gateway must have a corresponding subnet"),
    (["--label", "=x"], 125, """invalid argument "=x" for "--label" flag: invalid label '=x': """
                             "empty name"),
    (["--bogus"], 125, "unknown flag: --bogus"),
])
def test_create_rejects_locally(daemon, shoal, args, code, message):
    r = shoal("network", "create", *args, "n")
    assert r.code == code and message in r.err, r
    assert daemon.requests == []


def test_create_needs_exactly_one_name(daemon, shoal):
    r = shoal("network", "create")
    assert r.code == 1 and '"shoal network create" requires exactly 1 argument.' in r.err
    r = shoal("network", "create", "a", "b")
    assert r.code == 1 and "requires exactly 1 argument" in r.err


def test_create_conflict_is_daemon_error(daemon, shoal):
    r = shoal("network", "create", "bridge")
    assert r.code == 1
    assert r.err == "Error response from daemon: network with name bridge already exists\n"


def test_ls_table_sorted_quiet_no_trunc_filters(daemon, shoal):
    shoal("network", "create", "web10")
    shoal("network", "create", "web2")
    r = shoal("network", "ls")
    assert r.code == 0, r
    req = daemon.requests[-1]
    assert (req.method, req.path, req.query) == ("GET", "/networks", {})
    lines = r.out.splitlines()
    assert lines[0] == "NETWORK ID     NAME      DRIVER    SCOPE"
    assert [ln.split()[1] for ln in lines[1:]] == ["bridge", "host", "none", "web2", "web10"]
    bridge = daemon.networks["bridge"]["Id"]
    assert lines[1] == f"{bridge[:12]}   bridge    bridge    local"
    assert lines[3].split()[2] == "null"
    r = shoal("network", "ls", "-q")
    assert r.out.splitlines()[0] == bridge[:12]
    r = shoal("network", "ls", "-q", "--no-trunc", "-f", "driver=bridge", "-f", "name=web")
    assert r.out.splitlines()[0] == bridge
    assert json.loads(daemon.requests[-1].query["filters"][0]) == {
        "driver": {"bridge": True}, "name": {"web": True}}
    r = shoal("network", "list", "--format", "{{.Name}}:{{.Driver}}")
    assert r.out.splitlines()[:2] == ["bridge:bridge", "host:host"]
    r = shoal("network", "ls", "--format", "table {{.Name}}\\t{{.Internal}}")
    assert r.out.splitlines()[:2] == ["NAME      INTERNAL", "bridge    false"]


def test_ls_bad_filter_is_a_usage_error(daemon, shoal):
    r = shoal("network", "ls", "-f", "driver")
    assert r.code == 125
    assert 'invalid argument "driver" for "-f, --filter" flag: bad format of filter' in r.err
    assert daemon.requests == []


def test_inspect_array_format_and_missing(daemon, shoal):
    r = shoal("network", "inspect", "bridge", "host")
    assert r.code == 0, r
    docs = json.loads(r.out)
    assert [d["Name"] for d in docs] == ["bridge", "host"]
    assert daemon.calls() == ["GET /networks/bridge", "GET /networks/host"]
    assert daemon.requests[-1].raw_query == ""
    r = shoal("network", "inspect", "-f", "{{.Driver}} {{.Scope}}", "-v", "bridge")
    assert r.out == "bridge local\n"
    assert daemon.requests[-1].query == {"verbose": ["true"]}
    r = shoal("network", "inspect", "bridge", "nope")
    assert r.code == 1 and json.loads(r.out)[0]["Name"] == "bridge"
    assert r.err == "Error response from daemon: network nope not found\n"


def test_rm_prints_names_and_errors(daemon, shoal):
    shoal("network", "create", "a")
    shoal("network", "create", "b")
    r = shoal("network", "rm", "a", "nope", "bridge", "b")
    assert r.code == 1
    assert r.out == "a\nb\n"
    assert r.err == ("Error response from daemon: network nope not found\n"
                     "Error response from daemon: bridge is a pre-defined network and cannot "
                     "be removed\n")
    assert [c for c in daemon.calls() if c.startswith("DELETE")] == [
        "DELETE /networks/a", "DELETE /networks/nope", "DELETE /networks/bridge",
        "DELETE /networks/b"]
    r = shoal("network", "remove", "-f", "nope")
    assert r.code == 0 and r.out == "" and r.err == ""


def test_prune_confirms_unless_forced(daemon, shoal):
    shoal("network", "create", "old")
    r = shoal("network", "prune", stdin=b"n\n")
    assert r.code == 0
    assert r.out == ("WARNING! This will remove all custom networks not used by at least one "
                     "container.\nAre you sure you want to continue? [y/N] ")
    assert daemon.calls()[-1] == "POST /networks/create"
    r = shoal("network", "prune", stdin=b"Y\n")
    assert r.out.endswith("[y/N] Deleted Networks:\nold\n\n")
    req = daemon.requests[-1]
    assert (req.method, req.path, req.raw_query) == ("POST", "/networks/prune", "")
    shoal("network", "create", "older")
    r = shoal("network", "prune", "-f", "--filter", "until=24h")
    assert r.out == "Deleted Networks:\nolder\n\n"
    assert json.loads(daemon.requests[-1].query["filters"][0]) == {"until": {"24h": True}}
    assert shoal("network", "prune", "-f").out == ""


def test_connect_body(daemon, shoal):
    cid = shoal("create", "--name", "web", "busybox", "true").out.strip()
    shoal("network", "create", "backend")
    r = shoal("network", "connect", "--ip", "10.1.0.7", "--alias", "api", "--alias", "v1,v2",
              "backend", "web")
    assert r.code == 0 and r.out == "" and r.err == "", r
    req = daemon.requests[-1]
    assert (req.method, req.path) == ("POST", "/networks/backend/connect")
    assert req.json() == {"Container": "web", "EndpointConfig": {
        "IPAMConfig": {"IPv4Address": "10.1.0.7"}, "Links": None,
        "Aliases": ["api", "v1", "v2"], "MacAddress": "", "NetworkID": "", "EndpointID": "",
        "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DriverOpts": {}, "DNSNames": None}}
    assert "web" in find_network(daemon, "backend")["Containers"]
    assert cid
    r = shoal("network", "connect", "backend", "web")
    ep = daemon.requests[-1].json()["EndpointConfig"]
    assert ep["IPAMConfig"] == {} and ep["Aliases"] == [] and ep["DriverOpts"] == {}


def test_connect_errors(daemon, shoal):
    r = shoal("network", "connect", "--ip", "10.1.0.999", "backend", "web")
    assert r.code == 125
    assert ('invalid argument "10.1.0.999" for "--ip" flag: invalid IPv4 address: 10.1.0.999'
            in r.err)
    r = shoal("network", "connect", "--driver-opt", "novalue", "backend", "web")
    assert r.code == 1 and r.err == "invalid key/value pair format in driver options\n"
    r = shoal("network", "connect", "backend")
    assert r.code == 1 and "requires exactly 2 arguments" in r.err
    assert daemon.requests == []
    r = shoal("network", "connect", "nope", "web")
    assert r.code == 1 and r.err == "Error response from daemon: network nope not found\n"


def test_disconnect_body(daemon, shoal):
    shoal("network", "create", "backend")
    shoal("network", "connect", "backend", "web")
    r = shoal("network", "disconnect", "backend", "web")
    assert r.code == 0 and r.out == "", r
    req = daemon.requests[-1]
    assert (req.method, req.path) == ("POST", "/networks/backend/disconnect")
    assert req.json() == {"Container": "web", "Force": False}
    shoal("network", "disconnect", "-f", "backend", "web")
    assert daemon.requests[-1].json() == {"Container": "web", "Force": True}


def test_top_level_inspect_finds_networks_and_volumes(daemon, shoal):
    shoal("volume", "create", "data")
    r = shoal("inspect", "bridge", "data")
    assert r.code == 0, r
    docs = json.loads(r.out)
    assert docs[0]["Driver"] == "bridge" and docs[1]["Mountpoint"].endswith("/data/_data")
    r = shoal("inspect", "--type", "network", "-f", "{{.Name}}", "bridge")
    assert r.out == "bridge\n"
    assert daemon.requests[-1].path == "/networks/bridge"
    r = shoal("inspect", "--type", "volume", "bridge")
    assert r.code == 1 and r.err == "Error: No such volume: bridge\n"
