"""DNS codec and the embedded server's answering logic (no sockets)."""

from __future__ import annotations

import struct

import pytest

from shoal.engine.network import dnsmsg
from shoal.engine.network.dns import (
    DnsServer,
    Lookup,
    host_nameservers,
    sandbox_nft,
    sandbox_rules,
)


def test_query_roundtrip():
    raw = dnsmsg.build_query("Web.Example", dnsmsg.QTYPE_A, qid=7)
    q = dnsmsg.parse_query(raw)
    assert (q.id, q.name, q.qtype, q.qclass, q.rd) == (7, "web.example", 1, 1, True)
    ans = dnsmsg.build_answer(q, dnsmsg.NOERROR, ["10.0.0.2", "10.0.0.3"])
    assert struct.unpack(">H", ans[:2])[0] == 7
    assert dnsmsg.parse_answer(ans) == (0, ["10.0.0.2", "10.0.0.3"])


@pytest.mark.parametrize("data", [b"", b"\0" * 11, dnsmsg.build_query("a")[:-2],
                                  b"\x00\x01\x80\x00" + b"\0" * 8])
def test_malformed_queries(data):
    with pytest.raises(dnsmsg.DnsFormatError):
        dnsmsg.parse_query(data)


def test_encode_name_rejects_long_labels():
    assert dnsmsg.encode_name("a.bc.") == b"\x01a\x02bc\x00"
    with pytest.raises(ValueError):
        dnsmsg.encode_name("x" * 64)


def server(forwarders=None) -> DnsServer:
    table = {"c1": {"db": ["10.0.0.3"], "web": ["10.0.0.2"]}}
    rev = {"c1": {"10.0.0.3": "db"}}
    return DnsServer(Lookup(lambda cid, n: table.get(cid, {}).get(n),
                            lambda cid, ip: rev.get(cid, {}).get(ip)), forwarders)


def test_answers_known_names_only_for_the_asking_container():
    s = server()
    assert dnsmsg.parse_answer(s.answer("c1", dnsmsg.build_query("DB"))) == (0, ["10.0.0.3"])
    assert dnsmsg.parse_answer(s.answer("c2", dnsmsg.build_query("db")))[0] == dnsmsg.NXDOMAIN
    assert dnsmsg.parse_answer(s.answer("c1", dnsmsg.build_query("x")))[0] == dnsmsg.NXDOMAIN


def test_aaaa_for_known_name_is_empty_noerror():
    ans = server().answer("c1", dnsmsg.build_query("db", dnsmsg.QTYPE_AAAA))
    assert dnsmsg.parse_answer(ans) == (0, [])


def test_ptr_and_errors():
    s = server()
    ans = s.answer("c1", dnsmsg.build_query("3.0.0.10.in-addr.arpa", dnsmsg.QTYPE_PTR))
    assert dnsmsg.parse_answer(ans)[0] == 0 and b"\x02db\x00" in ans
    assert dnsmsg.parse_answer(s.answer("c1", b"\x00\x01" + b"\0" * 10))[0] == dnsmsg.FORMERR
    chaos = dnsmsg.build_query("db")[:-2] + b"\x00\x03"
    assert dnsmsg.parse_answer(s.answer("c1", chaos))[0] == dnsmsg.REFUSED


def test_unknown_names_go_to_the_forwarder_only_when_configured():
    assert server(["192.0.2.53"]).answer("c1", dnsmsg.build_query("example.org")) is None
    assert server().answer("c1", dnsmsg.build_query("example.org")) is not None


def test_host_nameservers():
    text = "# x\nnameserver 10.1.1.1\nnameserver fd00::1\nsearch a b\nnameserver 127.0.0.53\n"
    assert host_nameservers(text) == ["10.1.1.1", "127.0.0.53"]


def test_sandbox_rules():
    nft = sandbox_nft(40001, 40002)
    assert nft.startswith("table ip shoal_dns\nflush table ip shoal_dns\n")  # replaces
    assert 'oif "lo" goto dns' in nft  # one rule for what does not stay on loopback
    assert "ip daddr 127.0.0.11 udp dport 53 udp dport set 40001" in nft
    assert "ip saddr 127.0.0.11 tcp sport 40002 tcp sport set 53" in nft
    assert "ct " not in nft and "nat" not in nft  # stateless: conntrack stays off
    ipt = sandbox_rules(40001, 40002)  # the fallback without nft
    assert "-j DNAT --to-destination 127.0.0.11:40002" in ipt
    assert "-A OUTPUT ! -o lo -j NOTRACK" in ipt
