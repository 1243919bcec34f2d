"""Networking and storage flags of `shoal run`/`create`, `rm -v`, PORTS in `ps`, `port`."""

from __future__ import annotations

import os

import pytest

from shoal.cli.netopts import endpoint_settings


def _create(daemon, shoal, *args: str) -> dict:
    r = shoal("create", *args, "busybox", "true")
    assert r.code == 0, r
    req = daemon.requests[-1]
    assert (req.method, req.path) == ("POST", "/containers/create")
    return req.json()


def test_defaults_are_docker_shaped(daemon, shoal):
    b = _create(daemon, shoal)
    h = b["HostConfig"]
    assert h["NetworkMode"] == "default" and b["NetworkingConfig"] == {"EndpointsConfig": {}}
    assert h["PortBindings"] == {} and h["PublishAllPorts"] is False
    assert h["Binds"] is None and b["Volumes"] == {} and "ExposedPorts" not in b
    assert "Mounts" not in h and "Tmpfs" not in h
    assert (h["Dns"], h["DnsSearch"], h["DnsOptions"]) == ([], [], [])
    assert h["ExtraHosts"] is None and h["ReadonlyRootfs"] is False


def test_network_ip_and_aliases(daemon, shoal):
    b = _create(daemon, shoal, "--network", "backend", "--ip", "10.1.0.5",
                "--network-alias", "web", "--network-alias", "api")
    assert b["HostConfig"]["NetworkMode"] == "backend"
    assert b["NetworkingConfig"] == {"EndpointsConfig": {"backend": {
        "IPAMConfig": {"IPv4Address": "10.1.0.5"}, "Links": None, "Aliases": ["web", "api"],
        "MacAddress": "", "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
        "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "DriverOpts": None, "DNSNames": None}}}


def test_network_alone_sends_no_endpoint(daemon, shoal):
    b = _create(daemon, shoal, "--network", "backend")
    assert b["HostConfig"]["NetworkMode"] == "backend"
    assert b["NetworkingConfig"] == {"EndpointsConfig": {}}
    b = _create(daemon, shoal, "--net=none")
    assert b["HostConfig"]["NetworkMode"] == "none"


def test_network_alias_hidden_spelling_and_several_networks(daemon, shoal):
    b = _create(daemon, shoal, "--network", "a", "--network", "b", "--net-alias", "x")
    assert b["HostConfig"]["NetworkMode"] == "a"
    assert b["NetworkingConfig"]["EndpointsConfig"] == {
        "a": endpoint_settings(None, ["x"]), "b": endpoint_settings()}


def test_network_long_syntax(daemon, shoal):
    b = _create(daemon, shoal, "--network", "name=backend,alias=db,ip=10.1.0.9")
    assert b["HostConfig"]["NetworkMode"] == "backend"
    assert b["NetworkingConfig"]["EndpointsConfig"] == {
        "backend": endpoint_settings({"IPv4Address": "10.1.0.9"}, ["db"])}


def test_ip_without_network_goes_to_default(daemon, shoal):
    b = _create(daemon, shoal, "--ip", "172.17.0.9")
    assert b["HostConfig"]["NetworkMode"] == "default"
    assert b["NetworkingConfig"]["EndpointsConfig"] == {
        "default": endpoint_settings({"IPv4Address": "172.17.0.9"})}


def test_publish_expose_publish_all(daemon, shoal):
    b = _create(daemon, shoal, "-p", "8080:80", "-p", "127.0.0.1:5353:53/udp", "-p", "443",
                "--publish", "8000-8001:90-91", "-p", "80:80", "--expose", "9000-9001",
                "--expose", "7000/udp", "--expose", "443", "-P")
    h = b["HostConfig"]
    assert h["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "", "HostPort": "80"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
        "443/tcp": [{"HostIp": "", "HostPort": ""}],
        "90/tcp": [{"HostIp": "", "HostPort": "8000"}],
        "91/tcp": [{"HostIp": "", "HostPort": "8001"}]}
    assert h["PublishAllPorts"] is True
    assert b["ExposedPorts"] == {k: {} for k in (
        "80/tcp", "53/udp", "443/tcp", "90/tcp", "91/tcp", "9000/tcp", "9001/tcp", "7000/udp")}


def test_volumes_mounts_tmpfs(daemon, shoal, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    b = _create(daemon, shoal, "-v", "data:/data", "-v", "/host:/h:ro", "-v", "/anon",
                "--volume", "./rel:/rel", "--mount", "type=volume,src=cache,dst=/cache,"
                "volume-opt=size=1g", "--mount", "type=bind,source=/etc,target=/e,readonly",
                "--mount", "type=tmpfs,dst=/scratch,tmpfs-size=64m,tmpfs-mode=1770",
                "--tmpfs", "/run:rw,size=1m", "--tmpfs", "/tmp", "--read-only")
    h = b["HostConfig"]
    assert h["Binds"] == ["data:/data", "/host:/h:ro", f"{os.getcwd()}/rel:/rel"]
    assert b["Volumes"] == {"/anon": {}}
    assert h["Mounts"] == [
        {"Type": "volume", "Source": "cache", "Target": "/cache",
         "VolumeOptions": {"DriverConfig": {"Options": {"size": "1g"}}}},
        {"Type": "bind", "Source": "/etc", "Target": "/e", "ReadOnly": True},
        {"Type": "tmpfs", "Target": "/scratch",
         "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1770}}]
    assert h["Tmpfs"] == {"/run": "rw,size=1m", "/tmp": ""}
    assert h["ReadonlyRootfs"] is True


def test_dns_and_hosts(daemon, shoal):
    b = _create(daemon, shoal, "--dns", "8.8.8.8", "--dns=2001:4860::8888",
                "--dns-search", "example.com.", "--dns-option", "ndots:2",
                "--dns-opt", "timeout:1", "--add-host", "db:10.0.0.2",
                "--add-host", "v6=[fd00::2]")
    h = b["HostConfig"]
    assert h["Dns"] == ["8.8.8.8", "2001:4860::8888"]
    assert h["DnsSearch"] == ["example.com"]
    assert h["DnsOptions"] == ["ndots:2", "timeout:1"]
    assert h["ExtraHosts"] == ["db:10.0.0.2", "v6:fd00::2"]


@pytest.mark.parametrize("flag,value,message", [
    ("-p", "80/xyz", 'invalid argument "80/xyz" for "-p, --publish" flag: invalid proto: xyz'),
    ("-p", "a:80", 'invalid argument "a:80" for "-p, --publish" flag: invalid hostPort: a'),
    ("-p", "99999", 'invalid argument "99999" for "-p, --publish" flag: invalid containerPort: '
                    "99999"),
    ("-p", "8000-8001:80-82", 'for "-p, --publish" flag: invalid ranges specified for '
                              "container and host Ports: 80-82 and 8000-8001"),
    ("-p", "1.2.3:80:80", 'for "-p, --publish" flag: invalid IP address: 1.2.3'),
    ("--expose", "1:2", 'invalid argument "1:2" for "--expose" flag: invalid port format for '
                        "--expose: 1:2"),
    ("--expose", "x", 'for "--expose" flag: invalid range format for --expose: x'),
    ("-v", "data:rel", 'invalid argument "data:rel" for "-v, --volume" flag: invalid mount '
                       "path: 'rel' mount path must be absolute"),
    ("-v", "data:/d:rx", 'invalid argument "data:/d:rx" for "-v, --volume" flag: invalid mode: '
                         "rx"),
    ("-v", "data::/d", "empty section between colons"),
    ("--mount", "type=volume", 'invalid argument "type=volume" for "--mount" flag: target is '
                               "required"),
    ("--mount", "type=bind,dst=/x", 'field Source must not be empty'),
    ("--mount", "dst=/x,tmpfs-mode=9", "invalid value for tmpfs-mode: 9"),
    ("--mount", "dst=/x,foo=bar", "unexpected key 'foo' in 'foo=bar'"),
    ("--tmpfs", "run", 'invalid argument "run" for "--tmpfs" flag: invalid mount path: \'run\' '
                       "mount path must be absolute"),
    ("--dns", "dns.example", 'invalid argument "dns.example" for "--dns" flag: IP address is '
                             "not correctly formatted: dns.example"),
    ("--dns-search", "-bad-", 'for "--dns-search" flag: -bad- is not a valid domain'),
    ("--add-host", "db", 'invalid argument "db" for "--add-host" flag: bad format for '
                         'add-host: "db"'),
    ("--add-host", "db:1.2.3", 'invalid IP address in add-host: "1.2.3"'),
    ("--ip", "10.0.0.256", 'invalid argument "10.0.0.256" for "--ip" flag: invalid IPv4 '
                           "address: 10.0.0.256"),
    ("--network", "name=n,bogus=1", 'for "--network" flag: invalid field key bogus'),
    ("--network", "alias=a", 'for "--network" flag: network name/id is not specified'),
])
@pytest.mark.parametrize("command", ["run", "create"])
def test_malformed_values_name_flag_and_value(daemon, shoal, command, flag, value, message):
    r = shoal(command, flag, value, "busybox", "true")
    assert r.code == 125, r
    assert message in r.err
    assert r.err.endswith(f"See 'shoal {command} --help'.\n")
    assert daemon.requests == []


@pytest.mark.parametrize("args,message", [
    (["--network", "bridge", "--network-alias", "a"],
     "network-scoped aliases are only supported for user-defined networks"),
    (["--network-alias", "a"],
     "network-scoped aliases are only supported for user-defined networks"),
    (["--network", "a", "--network", "host"],
     "conflicting options: cannot attach both user-defined and non-user-defined network-modes"),
    (["--network", "a", "--network", "a"], 'network "a" is specified multiple times'),
    (["--network", "name=a,alias=x", "--network-alias", "y"],
     "conflicting options: cannot specify both --network-alias and per-network alias"),
    (["--network", "name=a,ip=10.0.0.2", "--ip", "10.0.0.3"],
     "conflicting options: cannot specify both --ip and per-network IPv4 address"),
])
def test_conflicting_network_options(daemon, shoal, args, message):
    r = shoal("run", *args, "busybox", "true")
    assert r.code == 125
    assert r.err == f"shoal: {message}.\nSee 'shoal run --help'.\n"
    assert daemon.requests == []


def test_rm_v_passes_v(daemon, shoal):
    shoal("create", "--name", "x", "-v", "/anon", "busybox", "true")
    r = shoal("rm", "-v", "x")
    assert r.code == 0 and r.out == "x\n"
    req = daemon.requests[-1]
    assert (req.method, req.path, req.query) == ("DELETE", "/containers/x", {"v": ["1"]})
    shoal("create", "--name", "y", "busybox", "true")
    shoal("rm", "--volumes", "y")
    assert daemon.requests[-1].query == {"v": ["1"]}


def test_ps_ports_column(daemon, shoal):
    ports = [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
             {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
             {"PrivatePort": 443, "Type": "tcp"},
             {"IP": "0.0.0.0", "PrivatePort": 9000, "PublicPort": 9000, "Type": "udp"},
             {"IP": "0.0.0.0", "PrivatePort": 9001, "PublicPort": 9001, "Type": "udp"}]
    daemon.route("GET", r"/containers/json", lambda d, q: q.conn.respond(200, [{
        "Id": "c" * 64, "Names": ["/web"], "Image": "busybox", "Command": "httpd",
        "Created": 0, "Ports": ports, "State": "running", "Status": "Up 1 second"}]))
    r = shoal("ps", "--format", "{{.Ports}}")
    assert r.out == ("443/tcp, 0.0.0.0:9000-9001->9000-9001/udp, 0.0.0.0:8080->80/tcp, "
                     "[::]:8080->80/tcp\n")
    r = shoal("ps")
    assert "443/tcp, 0.0.0.0:9000-9001->9000-9001/udp, 0.0.0.0:8080->80/tcp" in r.out


def _inspect_with_ports(daemon, ports):
    daemon.route("GET", r"/containers/([^/]+)/json", lambda d, q: q.conn.respond(
        200, {"Id": "c" * 64, "Name": "/web", "NetworkSettings": {"Ports": ports}})
        if q.match.group(1) == "web"
        else q.conn.respond(404, {"message": f"No such container: {q.match.group(1)}"}))


def test_port_lists_and_looks_up(daemon, shoal):
    _inspect_with_ports(daemon, {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
        "10/udp": [{"HostIp": "0.0.0.0", "HostPort": "1010"}],
        "443/tcp": None})
    r = shoal("port", "web")
    assert r.code == 0, r
    assert daemon.requests[-1].path == "/containers/web/json"
    assert r.out == ("10/udp -> 0.0.0.0:1010\n80/tcp -> 0.0.0.0:8080\n"
                     "80/tcp -> [::]:8080\n")
    assert shoal("port", "web", "80").out == "0.0.0.0:8080\n[::]:8080\n"
    assert shoal("container", "port", "web", "10/udp").out == "0.0.0.0:1010\n"
    r = shoal("port", "web", "443")
    assert r.code == 1 and r.err == "Error: No public port '443' published for web\n"
    r = shoal("port", "web", "10")
    assert r.code == 1 and r.err == "Error: No public port '10' published for web\n"
    r = shoal("port", "web", "http")
    assert r.code == 1
    assert r.err == ('Error: invalid port (http): strconv.ParseUint: parsing "http": '
                     "invalid syntax\n")
    r = shoal("port", "nope")
    assert r.code == 1 and r.err == "Error response from daemon: No such container: nope\n"
    r = shoal("port")
    assert r.code == 1 and "requires at least 1 argument" in r.err


def test_port_without_published_ports_prints_nothing(daemon, shoal):
    _inspect_with_ports(daemon, {})
    r = shoal("port", "web")
    assert r.code == 0 and r.out == "" and r.err == ""
