"""Port, volume, mount, address and --network values parsed as docker parses them."""

from __future__ import annotations

import os

import pytest

from shoal.cli import mounts, netopts, ports
from shoal.cli.formatting import display_ports, natural_key
from shoal.cli.opts import split_csv


def _b(ip: str = "", port: str = "") -> dict[str, str]:
    return {"HostIp": ip, "HostPort": port}


@pytest.mark.parametrize("value,expected", [
    ("80", [("80/tcp", _b())]),
    ("8080:80", [("80/tcp", _b("", "8080"))]),
    ("127.0.0.1::53/udp", [("53/udp", _b("127.0.0.1"))]),
    ("127.0.0.1:8080:80/TCP", [("80/tcp", _b("127.0.0.1", "8080"))]),
    ("[::1]:80:8080", [("8080/tcp", _b("::1", "80"))]),
    ("::1:80:8080", [("8080/tcp", _b("::1", "80"))]),
    ("0:80", [("80/tcp", _b("", "0"))]),
    ("8000-8001:80-81", [("80/tcp", _b("", "8000")), ("81/tcp", _b("", "8001"))]),
    ("80-81/udp", [("80/udp", _b()), ("81/udp", _b())]),
    ("8000-8010:80", [("80/tcp", _b("", "8000-8010"))]),
    ("published=8080,target=80", [("80/tcp", _b("", "8080"))]),
    ("target=53,protocol=udp", [("53/udp", _b())]),
])
def test_parse_publish(value, expected):
    assert ports.parse_publish(value) == expected


@pytest.mark.parametrize("value,message", [
    ("80/xyz", "invalid proto: xyz"),
    ("a:b", "invalid containerPort: b"),
    ("99999", "invalid containerPort: 99999"),
    ("x:80", "invalid hostPort: x"),
    ("8080:", "no port specified: 8080:<empty>"),
    ("1.2.3:80:80", "invalid IP address: 1.2.3"),
    ("[::1:80:80", "invalid IP address [::1: missing ']' in address"),
    ("8000-8001:80-82", "invalid ranges specified for container and host Ports: 80-82 and "
                        "8000-8001"),
    ("90-80", "invalid containerPort: 90-80"),
    ("published=1,junk", "invalid publish opts format (should be name=value but got 'junk')"),
])
def test_parse_publish_rejects(value, message):
    with pytest.raises(ValueError) as exc:
        ports.parse_publish(value)
    assert str(exc.value) == message


def test_parse_expose():
    assert ports.parse_expose("80") == ["80/tcp"]
    assert ports.parse_expose("8000-8002/udp") == ["8000/udp", "8001/udp", "8002/udp"]
    for bad, message in (("1:80", "invalid port format for --expose: 1:80"),
                         ("x", 'invalid range format for --expose: x, error: '
                               'strconv.ParseUint: parsing "x": invalid syntax'),
                         ("70000", 'invalid range format for --expose: 70000, error: '
                                   'strconv.ParseUint: parsing "70000": value out of range'),
                         ("80/xyz", "invalid proto: xyz")):
        with pytest.raises(ValueError) as exc:
            ports.parse_expose(bad)
        assert str(exc.value) == message


def test_parse_volume():
    assert mounts.parse_volume("/data") == (None, "/data")
    assert mounts.parse_volume("data:/data") == ("data:/data", "/data")
    assert mounts.parse_volume("cache:/c:ro") == ("cache:/c:ro", "/c")
    assert mounts.parse_volume("/host/dir:/c:rw,rshared") == ("/host/dir:/c:rw,rshared", "/c")
    assert mounts.parse_volume("./src:/src:ro") == (os.path.abspath("src") + ":/src:ro", "/src")
    assert mounts.parse_volume(".:/w") == (os.getcwd() + ":/w", "/w")


@pytest.mark.parametrize("value,message", [
    ("", "invalid empty volume spec"),
    ("data::/x", "invalid spec: data::/x: empty section between colons"),
    ("data:/x:ro:z", "invalid spec: data:/x:ro:z: too many colons"),
    ("data:rel", "invalid mount path: 'rel' mount path must be absolute"),
    ("rel", "invalid mount path: 'rel' mount path must be absolute"),
    ("data:/x:bogus", "invalid mode: bogus"),
    ("data:/x:ro,bogus", "invalid mode: ro,bogus"),
])
def test_parse_volume_rejects(value, message):
    with pytest.raises(ValueError) as exc:
        mounts.parse_volume(value)
    assert str(exc.value) == message


def test_parse_mount():
    assert mounts.parse_mount("type=volume,source=data,target=/d") == {
        "Type": "volume", "Source": "data", "Target": "/d"}
    assert mounts.parse_mount("src=data,dst=/d,readonly,volume-opt=size=1g,volume-opt=o=x") == {
        "Type": "volume", "Source": "data", "Target": "/d", "ReadOnly": True,
        "VolumeOptions": {"DriverConfig": {"Options": {"size": "1g", "o": "x"}}}}
    assert mounts.parse_mount("type=volume,destination=/d,volume-nocopy=true") == {
        "Type": "volume", "Target": "/d", "VolumeOptions": {"NoCopy": True, "DriverConfig": {}}}
    assert mounts.parse_mount("type=bind,src=/h,dst=/c,ro=false,bind-propagation=rslave") == {
        "Type": "bind", "Source": "/h", "Target": "/c",
        "BindOptions": {"Propagation": "rslave"}}
    assert mounts.parse_mount("type=bind,src=.,dst=/c,ro=1")["Source"] == os.getcwd()
    assert mounts.parse_mount("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1777") == {
        "Type": "tmpfs", "Target": "/t",
        "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1777}}
    assert mounts.parse_mount('"type=bind","src=/a,b",dst=/c')["Source"] == "/a,b"


@pytest.mark.parametrize("value,message", [
    ("type=volume,src=data", "target is required"),
    ("type=,dst=/d", "type is required"),
    ("type=npipe,dst=/d", "invalid mount type 'npipe': must be bind, volume or tmpfs"),
    ("type=bind,dst=/d", 'invalid mount config for type "bind": field Source must not be empty'),
    ("type=tmpfs,src=x,dst=/d",
     'invalid mount config for type "tmpfs": field Source must not be specified'),
    ("type=tmpfs,dst=/d,volume-opt=a=b", "cannot mix 'volume-*' options with mount type 'tmpfs'"),
    ("type=volume,dst=/d,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'volume'"),
    ("type=volume,dst=/d,bind-propagation=shared",
     "cannot mix 'bind-*' options with mount type 'volume'"),
    ("dst=/d,ro=maybe", "invalid value for ro: maybe"),
    ("type=tmpfs,dst=/d,tmpfs-size=lots", "invalid value for tmpfs-size: lots"),
    ("type=tmpfs,dst=/d,tmpfs-mode=999", "invalid value for tmpfs-mode: 999"),
    ("dst=/d,colour=blue", "unexpected key 'colour' in 'colour=blue'"),
    ("dst=/d,shiny", "invalid field 'shiny' must be a key=value pair"),
    ("dst=relative", "invalid mount path: 'relative' mount path must be absolute"),
    ('dst=/d,src=a"b', 'parse error: bare " in non-quoted-field'),
])
def test_parse_mount_rejects(value, message):
    with pytest.raises(ValueError) as exc:
        mounts.parse_mount(value)
    assert str(exc.value) == message


def test_parse_tmpfs():
    assert mounts.parse_tmpfs("/run") == ("/run", "")
    assert mounts.parse_tmpfs("/run:rw,size=64m") == ("/run", "rw,size=64m")
    with pytest.raises(ValueError, match="mount path must be absolute"):
        mounts.parse_tmpfs("run")


def test_split_csv():
    assert split_csv("a,b") == ["a", "b"]
    assert split_csv('"a,b",c') == ["a,b", "c"]
    assert split_csv('"say ""hi""",x') == ['say "hi"', "x"]
    assert split_csv("a,") == ["a", ""]
    with pytest.raises(ValueError, match="extraneous or missing"):
        split_csv('"a"b')


def test_addresses():
    assert netopts.parse_ipv4("10.0.0.5") == "10.0.0.5"
    for bad in ("10.0.0.300", "10.0.0", "::1", "01.2.3.4", "x"):
        with pytest.raises(ValueError, match=f"invalid IPv4 address: {bad}"):
            netopts.parse_ipv4(bad)
    assert netopts.parse_ip("fd00::1") == "fd00::1"
    with pytest.raises(ValueError, match="invalid string being converted to IP address: x"):
        netopts.parse_ip("x")
    assert netopts.parse_cidr("10.1.0.0/24") == "10.1.0.0/24"
    for bad in ("10.1.0.0", "10.1.0.0/33", "10.1.0/24", "10.1.0.0/x", "fd00::/129"):
        with pytest.raises(ValueError, match=f"invalid CIDR address: {bad}"):
            netopts.parse_cidr(bad)
    assert netopts.subnet_contains("10.1.0.0/16", "10.1.200.3")
    assert not netopts.subnet_contains("10.1.0.0/16", "10.2.0.1")
    assert not netopts.subnet_contains("10.1.0.0/16", "fd00::1")


def test_dns_and_hosts():
    assert netopts.validate_dns(" 8.8.8.8 ") == "8.8.8.8"
    assert netopts.validate_dns("0:0::1") == "::1"
    assert netopts.validate_dns("::ffff:1.2.3.4") == "1.2.3.4"
    with pytest.raises(ValueError, match="IP address is not correctly formatted: dns.local"):
        netopts.validate_dns("dns.local")
    assert netopts.validate_dns_search("example.com.") == "example.com"
    assert netopts.validate_dns_search(".") == "."
    for bad in ("-a.com", "a..b", "123", "a_b.com", "a" * 255):
        with pytest.raises(ValueError, match="is not a valid domain"):
            netopts.validate_dns_search(bad)
    assert netopts.validate_extra_host("db:10.0.0.2") == "db:10.0.0.2"
    assert netopts.validate_extra_host("db=[::1]") == "db:::1"
    assert netopts.validate_extra_host("v6:fd00::2") == "v6:fd00::2"
    assert netopts.validate_extra_host("gw:host-gateway") == "gw:host-gateway"
    with pytest.raises(ValueError, match='bad format for add-host: "db"'):
        netopts.validate_extra_host("db")
    with pytest.raises(ValueError, match='invalid IP address in add-host: "1.2.3.400"'):
        netopts.validate_extra_host("db:1.2.3.400")


def test_labels():
    assert netopts.validate_label("a=b c") == "a=b c"
    assert netopts.validate_label("flag") == "flag"
    with pytest.raises(ValueError, match="invalid label '=x': empty name"):
        netopts.validate_label("=x")
    with pytest.raises(ValueError, match="label 'a b' contains whitespaces"):
        netopts.validate_label("a b=c")


def test_consolidate_ipam():
    assert netopts.consolidate_ipam([], [], [], {}) == []
    assert netopts.consolidate_ipam(["10.1.0.0/24", "10.2.0.0/24"], ["10.2.0.128/25"],
                                    ["10.1.0.1"], {"host": "10.1.0.9"}) == [
        {"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1",
         "AuxiliaryAddresses": {"host": "10.1.0.9"}},
        {"Subnet": "10.2.0.0/24", "IPRange": "10.2.0.128/25"}]
    for args, message in (
        (([], [], ["10.1.0.1"], {}), "every ip-range or gateway must have a corresponding subnet"),
        ((["10.1.0.0/24"], [], ["10.9.0.1"], {}), "no matching subnet for gateway 10.9.0.1"),
        ((["10.1.0.0/24"], ["10.9.0.0/25"], [], {}), "no matching subnet for range 10.9.0.0/25"),
        ((["10.1.0.0/16", "10.1.2.0/24"], [], [], {}),
         "multiple overlapping subnet configuration is not supported"),
        ((["10.1.0.0/24"], [], [], {"a": "10.9.0.1"}), "no matching subnet for aux-address "
                                                       "10.9.0.1"),
    ):
        with pytest.raises(ValueError) as exc:
            netopts.consolidate_ipam(*args)
        assert str(exc.value) == message


def test_parse_network():
    assert netopts.parse_network("backend") == {"Target": "backend"}
    assert netopts.parse_network("container:web") == {"Target": "container:web"}
    assert netopts.parse_network("name=backend,alias=a,alias=b,ip=10.1.0.5") == {
        "Target": "backend", "Aliases": ["a", "b"], "IPv4Address": "10.1.0.5"}
    assert netopts.parse_network("name=n,driver-opt=com.x=1")["DriverOpts"] == {"com.x": "1"}
    for bad, message in (("alias=a", "network name/id is not specified"),
                         ("name=n,colour=red", "invalid field key colour"),
                         ("name=n,bare", "invalid field bare"),
                         ("name=n,ip=1.2.3", "invalid IPv4 address: 1.2.3")):
        with pytest.raises(ValueError) as exc:
            netopts.parse_network(bad)
        assert str(exc.value) == message


def test_endpoints_config():
    ep = netopts.endpoint_settings
    assert netopts.endpoints_config([{"Target": "backend"}], [], "") == {}
    assert netopts.endpoints_config([{"Target": "backend"}], ["web"], "10.1.0.5") == {
        "backend": ep({"IPv4Address": "10.1.0.5"}, ["web"])}
    assert netopts.endpoints_config([], [], "10.1.0.5") == {
        "default": ep({"IPv4Address": "10.1.0.5"})}
    two = netopts.endpoints_config([{"Target": "a"}, {"Target": "b"}], ["x"], "")
    assert two == {"a": ep(None, ["x"]), "b": ep()}
    for args, message in (
        (([{"Target": "bridge"}], ["x"], ""),
         "network-scoped aliases are only supported for user-defined networks"),
        (([], ["x"], ""), "network-scoped aliases are only supported for user-defined networks"),
        (([{"Target": "a"}, {"Target": "host"}], [], ""),
         "conflicting options: cannot attach both user-defined and non-user-defined "
         "network-modes"),
        (([{"Target": "a"}, {"Target": "a"}], [], ""), 'network "a" is specified multiple times'),
        (([{"Target": "a", "Aliases": ["p"]}], ["x"], ""),
         "conflicting options: cannot specify both --network-alias and per-network alias"),
        (([{"Target": "a", "IPv4Address": "10.0.0.2"}], [], "10.0.0.3"),
         "conflicting options: cannot specify both --ip and per-network IPv4 address"),
    ):
        with pytest.raises(ValueError) as exc:
            netopts.endpoints_config(*args)
        assert str(exc.value) == message


def test_display_ports_groups_like_docker():
    assert display_ports([
        {"PrivatePort": 443, "Type": "tcp"},
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
    ]) == "443/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
    assert display_ports([
        {"PrivatePort": 81, "Type": "udp"}, {"PrivatePort": 80, "Type": "udp"},
        {"PrivatePort": 90, "Type": "udp"},
        {"IP": "0.0.0.0", "PrivatePort": 8000, "PublicPort": 8000, "Type": "tcp"},
        {"IP": "0.0.0.0", "PrivatePort": 8001, "PublicPort": 8001, "Type": "tcp"},
    ]) == "80-81/udp, 90/udp, 0.0.0.0:8000-8001->8000-8001/tcp"
    assert display_ports([]) == ""


def test_natural_key():
    names = ["web10", "web2", "db", "web1", "a-net"]
    assert sorted(names, key=natural_key) == ["a-net", "db", "web1", "web2", "web10"]
