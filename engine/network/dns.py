"""The embedded DNS server: 127.0.0.11:53 (UDP and TCP) inside every sandbox.

Like Docker's: for each sandbox on a user-defined network the daemon opens a
UDP and a TCP socket in the container's network namespace, bound to
127.0.0.11 on free high ports (lo is up there, and 127.0.0.0/8 is local),
and rules in that namespace send 127.0.0.11:53 to them, so port 53 stays
free for a DNS server in the container (Docker uses a DNAT; here it is a
stateless port rewrite in nftables, so that conntrack stays off in the
container, see sandbox_nft). One thread running an asyncio loop serves every
sandbox. The socket a query arrives on tells which
container asked, so the answer covers exactly the networks that container is
attached to. Nothing listens on the host. After a restart of the daemon the
sockets are opened again on the same ports for every sandbox that still
exists (and the rules rewritten if a port had to change).

Names that the lookup does not know are forwarded to the host's resolvers
when forwarding is on (production), and answered NXDOMAIN otherwise (tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

from shoal.engine.network import dnsmsg, nsutil

log = logging.getLogger(__name__)
DNS_IP = "127.0.0.11"


@dataclass
class Lookup:
    """What the service knows: names -> addresses and addresses -> names, per container."""

    resolve: Callable[[str, str], list[str] | None]  # (container id, name) -> A addresses
    reverse: Callable[[str, str], str | None]  # (container id, ip) -> name


class DnsServer:
    """Serve the embedded DNS of every registered sandbox from one background thread."""

    def __init__(self, lookup: Lookup, forwarders: list[str] | None = None,
                 netns: str | None = None) -> None:
        self.lookup = lookup
        self.forwarders = forwarders or []
        self.netns = netns  # where forwarded queries leave from
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: dict[str, tuple[asyncio.DatagramTransport, asyncio.Server]] = {}

    # ---- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Start the server thread (idempotent)."""
        if self._thread is not None:
            return
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.call_soon(ready.set)
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="shoal-dns", daemon=True)
        self._thread.start()
        ready.wait()

    def stop(self) -> None:
        """Close every sandbox's sockets and stop the thread."""
        if self._loop is None or self._thread is None:
            return
        for cid in list(self._servers):
            self.remove_sandbox(cid)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = self._loop = None

    def _call(self, coro: object) -> object:
        assert self._loop is not None, "DnsServer.start() first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]

    # ---- sandboxes ----------------------------------------------------------------
    def add_sandbox(self, cid: str, netns: str, ports: tuple[int, int] = (0, 0)) -> tuple[int, int]:
        """Serve CID's queries on 127.0.0.11 in sandbox NETNS; return the (UDP, TCP) ports.

        PORTS are tried first (the ones used before a restart); 0, or a port
        that is taken, means any free port.
        """
        if cid in self._servers:
            t, s = self._servers[cid]
            return t.get_extra_info("sockname")[1], s.sockets[0].getsockname()[1]

        def bind(kind: int, port: int) -> socket.socket:
            s = socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                try:
                    s.bind((DNS_IP, port))
                except OSError:
                    if not port:
                        raise
                    s.bind((DNS_IP, 0))
                if kind == socket.SOCK_STREAM:
                    s.listen(64)
            except BaseException:
                s.close()
                raise
            s.setblocking(False)
            return s

        def open_socks() -> tuple[socket.socket, socket.socket]:
            u = bind(socket.SOCK_DGRAM, ports[0])
            try:
                return u, bind(socket.SOCK_STREAM, ports[1])
            except BaseException:
                u.close()
                raise

        udp, tcp = nsutil.run_in(netns, open_socks)
        got = (udp.getsockname()[1], tcp.getsockname()[1])
        self._call(self._serve(cid, udp, tcp))
        return got

    async def _serve(self, cid: str, udp: socket.socket, tcp: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self, cid), sock=udp)
        server = await asyncio.start_server(
            lambda r, w: self._tcp_client(cid, r, w), sock=tcp)
        self._servers[cid] = (transport, server)

    def remove_sandbox(self, cid: str) -> None:
        """Close CID's DNS sockets (nothing happens if it has none)."""
        if cid in self._servers and self._loop is not None:
            self._call(self._close(cid))

    async def _close(self, cid: str) -> None:
        entry = self._servers.pop(cid, None)
        if entry is None:
            return
        transport, server = entry
        transport.close()
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)

    def sandboxes(self) -> list[str]:
        return list(self._servers)

    # ---- answering ----------------------------------------------------------------
    def answer(self, cid: str, data: bytes) -> bytes | None:
        """Return the answer to query DATA from CID, or None when it must be forwarded."""
        try:
            q = dnsmsg.parse_query(data)
        except dnsmsg.DnsFormatError:
            return dnsmsg.error_answer(data, dnsmsg.FORMERR)
        if q.qclass != dnsmsg.QCLASS_IN:
            return dnsmsg.build_answer(q, dnsmsg.REFUSED)
        if q.qtype == dnsmsg.QTYPE_PTR and q.name.endswith(".in-addr.arpa"):
            ip = ".".join(reversed(q.name[: -len(".in-addr.arpa")].split(".")))
            name = self.lookup.reverse(cid, ip)
            if name:
                return dnsmsg.build_answer(q, dnsmsg.NOERROR, ptr=name)
        else:
            addrs = self.lookup.resolve(cid, q.name)
            if addrs is not None:
                found = addrs if q.qtype == dnsmsg.QTYPE_A else []
                return dnsmsg.build_answer(q, dnsmsg.NOERROR, found)
        if self.forwarders and q.rd:
            return None
        return dnsmsg.build_answer(q, dnsmsg.NXDOMAIN)

    async def resolve_bytes(self, cid: str, data: bytes) -> bytes | None:
        """Return the answer to DATA, forwarding it upstream when the lookup does not know."""
        ans = self.answer(cid, data)
        if ans is not None:
            return ans
        fwd = await asyncio.get_running_loop().run_in_executor(None, self._forward, data)
        return fwd or dnsmsg.error_answer(data, dnsmsg.SERVFAIL)

    def _forward(self, data: bytes) -> bytes | None:
        def ask() -> bytes | None:
            for server in self.forwarders:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(2)
                    try:
                        s.sendto(data, (server, 53))
                        return s.recv(4096)
                    except OSError:
                        continue
            return None

        return nsutil.run_in(self.netns, ask)

    async def _tcp_client(self, cid: str, r: asyncio.StreamReader,
                          w: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await r.readexactly(2)
                data = await r.readexactly(struct.unpack(">H", head)[0])
                ans = await self.resolve_bytes(cid, data)
                if ans is None:
                    break
                w.write(struct.pack(">H", len(ans)) + ans)
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            w.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer, cid: str) -> None:
        self.server = server
        self.cid = cid
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: set[asyncio.Future[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        ans = self.server.answer(self.cid, data)
        if ans is not None:
            if self.transport is not None:
                self.transport.sendto(ans, addr)
            return
        fut = asyncio.ensure_future(self._forward(data, addr))
        self.pending.add(fut)
        fut.add_done_callback(self.pending.discard)

    async def _forward(self, data: bytes, addr: tuple[str, int]) -> None:
        ans = await self.server.resolve_bytes(self.cid, data)
        if ans is not None and self.transport is not None:
            self.transport.sendto(ans, addr)


def sandbox_nft(udp_port: int, tcp_port: int) -> str:
    """Return the sandbox's ruleset (`nft -f -` input): 127.0.0.11:53 <-> our ports.

    Stateless: on the way out, a query's destination port 53 becomes ours and
    an answer's source port ours becomes 53 (queries and answers both leave
    through OUTPUT, on lo). No NAT, so no conntrack in the container's
    namespace (it would track every connection of the container and cost a
    few percent of its throughput), and one rule (`oif lo`) for all the
    other traffic; nothing at all on the way in. Loading it replaces the
    rules (flushing: deleting the table would cost ~12 ms, `nft` ~3 ms in all).
    """
    t = "shoal_dns"
    return (f"table ip {t}\n"
            f"flush table ip {t}\n"
            f"table ip {t} {{\n"
            "  chain output {\n"
            "    type filter hook output priority -300; policy accept;\n"
            '    oif "lo" goto dns\n'
            "  }\n"
            "  chain dns {\n"
            f"    ip daddr {DNS_IP} udp dport 53 udp dport set {udp_port}\n"
            f"    ip daddr {DNS_IP} tcp dport 53 tcp dport set {tcp_port}\n"
            f"    ip saddr {DNS_IP} udp sport {udp_port} udp sport set 53\n"
            f"    ip saddr {DNS_IP} tcp sport {tcp_port} tcp sport set 53\n"
            "  }\n"
            "}\n")


def sandbox_rules(udp_port: int, tcp_port: int) -> str:
    """Return the same as iptables-restore input, for hosts without nft: a DNAT.

    The DNAT needs conntrack, which would then track every connection of the
    container; the raw table keeps it to loopback (whatever crosses another
    interface is NOTRACK), where the queries to 127.0.0.11 and their answers
    stay.
    """
    return ("*nat\n"
            f"-A OUTPUT -d {DNS_IP}/32 -p udp -m udp --dport 53 "
            f"-j DNAT --to-destination {DNS_IP}:{udp_port}\n"
            f"-A OUTPUT -d {DNS_IP}/32 -p tcp -m tcp --dport 53 "
            f"-j DNAT --to-destination {DNS_IP}:{tcp_port}\n"
            "COMMIT\n"
            "*raw\n"
            "-A PREROUTING ! -i lo -j NOTRACK\n"
            "-A OUTPUT ! -o lo -j NOTRACK\n"
            "COMMIT\n")


def host_nameservers(text: str) -> list[str]:
    """Return the IPv4 nameservers listed in resolv.conf TEXT."""
    out = []
    for ln in text.splitlines():
        parts = ln.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and ":" not in parts[1]:
            out.append(parts[1])
    return out
