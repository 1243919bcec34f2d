"""Pure logic: port specs, firewall rendering, resolv.conf and hosts contents."""

from __future__ import annotations

import pytest

from shoal.engine.network import etcfiles, firewall, ports
from shoal.engine.network.errors import InvalidNetworkConfig
from shoal.engine.network.model import Network, PortMapping


@pytest.mark.parametrize("spec,expect", [
    ("80", ("80/tcp", {"HostIp": "", "HostPort": ""})),
    ("8080:80", ("80/tcp", {"HostIp": "", "HostPort": "8080"})),
    ("127.0.0.1:8080:80/udp", ("80/udp", {"HostIp": "127.0.0.1", "HostPort": "8080"})),
    ("127.0.0.1::53/udp", ("53/udp", {"HostIp": "127.0.0.1", "HostPort": ""})),
])
def test_parse_spec(spec, expect):
    assert ports.parse_spec(spec) == expect


@pytest.mark.parametrize("spec", ["80/sctp", "0", "70000:80", "x:80", "1.2.3:80:80"])
def test_parse_spec_errors(spec):
    with pytest.raises(InvalidNetworkConfig):
        ports.parse_spec(spec)


def test_wanted_with_publish_all():
    got = ports.wanted({"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "53/udp": None},
                       ["80/tcp", "443/tcp"], publish_all=True)
    assert got == [("tcp", 80, "", 8080), ("udp", 53, "", 0), ("tcp", 443, "", 0)]


def test_overlaps():
    m = PortMapping("tcp", "0.0.0.0", 8080, 80)
    assert ports.overlaps(m, "tcp", "127.0.0.1", 8080)
    assert not ports.overlaps(m, "udp", "", 8080)
    m2 = PortMapping("tcp", "127.0.0.1", 8080, 80)
    assert not ports.overlaps(m2, "tcp", "127.0.0.2", 8080)


def test_ports_view():
    v = ports.ports_view([PortMapping("tcp", "0.0.0.0", 8080, 80)], ["80/tcp", "81/tcp"])
    assert v == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "81/tcp": None}


def net(name: str, internal: bool = False, driver: str = "bridge") -> Network:
    return Network(id=name * 8, name=name, driver=driver, created="", subnet="10.7.0.0/24",
                   gateway="10.7.0.1", bridge=f"br-{name}", internal=internal)


def test_render_rules():
    text = firewall.render("SH", "tag", [net("a"), net("b", internal=True)],
                           [PortMapping("tcp", "127.0.0.1", 8080, 80, "10.7.0.2")],
                           {"filter": ["-I FORWARD 1 -m comment --comment tag -j SH-FORWARD"]})
    lines = text.splitlines()
    assert lines[0] == "*filter" and ":SH-FORWARD - [0:0]" in lines
    assert "-I FORWARD 1 -m comment --comment tag -j SH-FORWARD" in lines
    assert "-A SH-FORWARD -i br-a -o br-a -m comment --comment tag -j ACCEPT" in lines
    assert "-A SH-ISOLATION-2 -o br-a -m comment --comment tag -j DROP" in lines
    assert "-A SH-ISOLATION-1 -i br-b ! -o br-b -m comment --comment tag -j DROP" in lines
    assert not any("MASQUERADE" in ln and "br-b" in ln for ln in lines)
    assert "-A SH-POSTROUTING -s 10.7.0.0/24 ! -o br-a -m comment --comment tag -j MASQUERADE" \
        in lines
    assert ("-A SH-DNAT -d 127.0.0.1 -p tcp -m tcp --dport 8080 -m comment --comment tag "
            "-j DNAT --to-destination 10.7.0.2:80") in lines
    assert all("--comment tag" in ln for ln in lines if ln.startswith(("-A", "-I")))
    assert text.count("COMMIT") == 2


def test_render_service_ports_round_robin():
    ips = ["10.7.0.2", "10.7.0.3", "10.7.0.4"]
    lines = firewall.render("SH", "tag", [net("a")], [],
                            services=[("tcp", 8080, 80, ips), ("udp", 53, 53, [])]).splitlines()
    dnat = [ln for ln in lines if ln.startswith("-A SH-DNAT")]
    assert dnat == [
        "-A SH-DNAT -p tcp -m tcp --dport 8080 -m statistic --mode nth --every 3 --packet 0 "
        "-m comment --comment tag -j DNAT --to-destination 10.7.0.2:80",
        "-A SH-DNAT -p tcp -m tcp --dport 8080 -m statistic --mode nth --every 2 --packet 0 "
        "-m comment --comment tag -j DNAT --to-destination 10.7.0.3:80",
        "-A SH-DNAT -p tcp -m tcp --dport 8080 -m comment --comment tag "
        "-j DNAT --to-destination 10.7.0.4:80",
    ]


def test_hook_rule():
    assert firewall.hook_rule("SH", "t", "nat", "OUTPUT", "-m addrtype --dst-type LOCAL",
                              "DNAT") == ("OUTPUT -m addrtype --dst-type LOCAL -m comment "
                                          "--comment t -j SH-DNAT")


def test_resolv_conf():
    host = "nameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch corp\noptions edns0 ndots:2\n"
    assert etcfiles.resolv_conf(host, True) == ("nameserver 127.0.0.11\nsearch corp\n"
                                                "options edns0 ndots:0\n")
    assert etcfiles.resolv_conf(host, False) == ("nameserver 10.0.0.1\nsearch corp\n"
                                                 "options edns0 ndots:2\n")
    assert etcfiles.resolv_conf(host, False, dns=["10.9.9.9"], search=["x"],
                                options=["rotate"]) == ("nameserver 10.9.9.9\nsearch x\n"
                                                        "options rotate\n")


def test_hosts():
    text = etcfiles.hosts("web", ["10.0.0.2"], ["w"], ["db:10.0.0.9"])
    assert text.startswith("127.0.0.1\tlocalhost\n")
    assert "10.0.0.2\tweb w\n" in text and text.endswith("10.0.0.9\tdb\n")
