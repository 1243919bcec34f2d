"""DNS messages: decode a query, encode an answer (RFC 1035, A records only).

Just what the embedded server needs: one question per query, answers that
point back at the question name, no EDNS (an OPT record in the query is
ignored; answers stay under 512 bytes).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

QTYPE_A, QTYPE_PTR, QTYPE_AAAA = 1, 12, 28
QCLASS_IN = 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
TTL = 600


class DnsFormatError(ValueError):
    """The bytes are not a DNS query this server can read."""


@dataclass
class Query:
    """One DNS question and the header fields the answer must echo."""

    id: int
    flags: int
    name: str  # lower case, no trailing dot
    qtype: int
    qclass: int
    raw_question: bytes

    @property
    def rd(self) -> bool:
        return bool(self.flags & 0x0100)


def _read_name(data: bytes, i: int) -> tuple[str, int]:
    labels: list[str] = []
    while True:
        if i >= len(data):
            raise DnsFormatError("truncated name")
        n = data[i]
        if n == 0:
            return ".".join(labels), i + 1
        if n & 0xC0:
            raise DnsFormatError("compressed name in a question")
        labels.append(data[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
        if len(labels) > 127:
            raise DnsFormatError("too many labels")


def encode_name(name: str) -> bytes:
    """Return NAME in wire format (labels, then a zero byte)."""
    out = b""
    for label in filter(None, name.rstrip(".").split(".")):
        raw = label.encode("ascii")
        if len(raw) > 63:
            raise ValueError(f"label too long in {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def parse_query(data: bytes) -> Query:
    """Decode a query; raise DnsFormatError on anything that is not one question."""
    if len(data) < 12:
        raise DnsFormatError("short header")
    qid, flags, qd, _an, _ns, _ar = struct.unpack_from(">HHHHHH", data)
    if flags & 0x8000 or qd != 1:
        raise DnsFormatError("not a single-question query")
    name, i = _read_name(data, 12)
    if i + 4 > len(data):
        raise DnsFormatError("truncated question")
    qtype, qclass = struct.unpack_from(">HH", data, i)
    return Query(qid, flags, name.lower(), qtype, qclass, data[12 : i + 4])


def build_query(name: str, qtype: int = QTYPE_A, qid: int = 0x1234) -> bytes:
    """Return a recursive query for NAME (tests and the forwarder use it)."""
    return (struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name)
            + struct.pack(">HH", qtype, QCLASS_IN))


def build_answer(q: Query, rcode: int, addrs: list[str] = (), ptr: str = "",  # type: ignore[assignment]
                 recursion_available: bool = False) -> bytes:
    """Return the answer to Q: A records for ADDRS, or one PTR record, with RCODE."""
    flags = 0x8000 | 0x0400 | (q.flags & 0x0100) | rcode  # QR, AA, RD echoed
    if recursion_available:
        flags |= 0x0080
    answers = b""
    count = 0
    for a in addrs:
        answers += struct.pack(">HHHIH", 0xC00C, QTYPE_A, QCLASS_IN, TTL, 4)
        answers += ipaddress.IPv4Address(a).packed
        count += 1
    if ptr:
        rdata = encode_name(ptr)
        answers += struct.pack(">HHHIH", 0xC00C, QTYPE_PTR, QCLASS_IN, TTL, len(rdata)) + rdata
        count += 1
    return struct.pack(">HHHHHH", q.id, flags, 1, count, 0, 0) + q.raw_question + answers


def error_answer(data: bytes, rcode: int) -> bytes | None:
    """Return a header-only answer with RCODE to whatever DATA is, or None if unreadable."""
    if len(data) < 12:
        return None
    qid, flags = struct.unpack_from(">HH", data)
    return struct.pack(">HHHHHH", qid, 0x8000 | (flags & 0x0100) | rcode, 0, 0, 0, 0)


def parse_answer(data: bytes) -> tuple[int, list[str]]:
    """Return (rcode, A addresses) of an answer (tests use it)."""
    _qid, flags, qd, an, _ns, _ar = struct.unpack_from(">HHHHHH", data)
    i = 12
    for _ in range(qd):
        _n, i = _skip_name(data, i)
        i += 4
    addrs = []
    for _ in range(an):
        _n, i = _skip_name(data, i)
        rtype, _cls, _ttl, rdlen = struct.unpack_from(">HHIH", data, i)
        i += 10
        if rtype == QTYPE_A and rdlen == 4:
            addrs.append(str(ipaddress.IPv4Address(data[i : i + 4])))
        i += rdlen
    return flags & 0xF, addrs


def _skip_name(data: bytes, i: int) -> tuple[None, int]:
    while True:
        n = data[i]
        if n == 0:
            return None, i + 1
        if n & 0xC0:
            return None, i + 2
        i += 1 + n


def reverse_name(ip: str) -> str:
    """Return the in-addr.arpa name of IPv4 address IP."""
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
