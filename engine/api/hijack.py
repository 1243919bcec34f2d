"""Hijacked connections: after `101 UPGRADED`, the HTTP connection is a raw byte pipe.

Docker's attach and exec-start upgrade the connection (`Connection: Upgrade`,
`Upgrade: tcp`): the client's stdin flows in, the process output flows out,
and the client may half-close its side when its stdin ends. aiohttp has no
public hijack, so after sending the 101 we take the transport over with a
protocol of our own (the same move aiohttp's WebSocketResponse makes with a
payload parser), which also keeps the socket open on a half-close.
"""

from __future__ import annotations

import asyncio
import fcntl
import struct
import termios
import time
from typing import Any

from aiohttp import web


class _RawProtocol(asyncio.Protocol):
    def __init__(self, transport: asyncio.Transport, tail: bytes) -> None:
        self.transport = transport
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.can_write = asyncio.Event()
        self.can_write.set()
        self.closed = False
        if tail:
            self.queue.put_nowait(tail)

    def data_received(self, data: bytes) -> None:
        self.queue.put_nowait(data)

    def eof_received(self) -> bool:
        self.queue.put_nowait(b"")
        return True  # keep the write side open: output still flows after stdin ends

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.queue.put_nowait(b"")
        self.can_write.set()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()


class Hijacked:
    """The raw connection of an upgraded request."""

    def __init__(self, response: web.StreamResponse, protocol: _RawProtocol) -> None:
        self.response = response
        self._p = protocol

    @property
    def closed(self) -> bool:
        return self._p.closed

    async def read(self) -> bytes:
        """Return the next chunk from the client; b"" at EOF (half-close or close)."""
        return await self._p.queue.get()

    async def write(self, data: bytes) -> None:
        if self._p.closed or not data:
            return
        self._p.transport.write(data)
        await self._p.can_write.wait()

    def close(self) -> None:
        if not self._p.closed:
            self._p.transport.close()


async def _until_read(transport: asyncio.Transport, limit: float = 0.2) -> None:
    """Wait until the client has read what we sent (the 101 headers), at most LIMIT s.

    Clients such as the Docker SDK parse the headers with a buffered reader
    and then read the raw socket: output that arrived with the headers would
    sit in their buffer and be lost. On a UNIX socket, TIOCOUTQ counts the
    bytes the peer has not read yet.
    """
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    deadline = time.monotonic() + limit
    buf = bytearray(4)
    while time.monotonic() < deadline:
        try:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
        except OSError:
            return
        if struct.unpack("i", buf)[0] == 0:
            return
        await asyncio.sleep(0.0005)


def wants_upgrade(request: web.Request) -> bool:
    conn = request.headers.get("Connection", "").lower()
    return "upgrade" in conn and request.headers.get("Upgrade", "").lower() == "tcp"


async def hijack(request: web.Request, content_type: str) -> Hijacked:
    """Answer 101 UPGRADED and return the raw connection."""
    resp = web.StreamResponse(
        status=101,
        reason="UPGRADED",
        headers={"Content-Type": content_type, "Connection": "Upgrade", "Upgrade": "tcp"},
    )
    await resp.prepare(request)
    transport = request.transport
    assert transport is not None
    old: Any = request.protocol
    tail = bytes(getattr(old, "_message_tail", b"") or b"")
    proto = _RawProtocol(transport, tail)
    transport.set_protocol(proto)
    resp.force_close()
    await _until_read(transport)
    return Hijacked(resp, proto)
