"""The answer side of the HTTP client: bodies by length, chunks or close; hijacked streams."""

from __future__ import annotations

import json
import socket

from .errors import APIError, CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from .client import Client

_RECV = 65536
_NO_BODY = (101, 204, 304)


class StaleConnection(CLIError):
    """The connection closed before any byte of the answer arrived."""

    def __init__(self) -> None:
        super().__init__("connection closed")


class Response:
    """The status, headers and (streamed) body of one answer."""

    def __init__(self, client: Client, status: int, reason: str, headers: dict[str, str],
                 method: str, keep_alive: bool = True) -> None:
        self.client, self.status, self.reason, self.headers = client, status, reason, headers
        self.keep_alive = keep_alive
        self.done = False
        self._left = 0
        self._crlf = False
        if method == "HIJACK" and status < 300:
            self.keep_alive = True  # the socket now belongs to the stream
            self._mode = "none"
        elif status in _NO_BODY or 100 <= status < 200 or method == "HEAD":
            self._mode = "none"
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._mode = "chunked"
        elif "content-length" in headers:
            self._mode = "length"
            self._left = int(headers["content-length"])
        else:
            self._mode = "close"
        if self._mode == "none" or (self._mode == "length" and self._left == 0):
            self._finish()

    def _finish(self) -> None:
        self.done = True
        if not self.keep_alive or self._mode == "close":
            self.client.close()

    def read_some(self) -> bytes:
        """Return the next piece of the body as it arrives; b"" at its end."""
        if self.done:
            return b""
        c = self.client
        if self._mode == "length":
            data = c._take(self._left)
            self._left -= len(data)
            if not self._left:
                self._finish()
            return data
        if self._mode == "chunked":
            if self._crlf:
                c._readline()
                self._crlf = False
            if not self._left:
                line = c._readline()
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise CLIError(f"malformed chunked encoding: {line!r}") from None
                if size == 0:
                    while c._readline():
                        pass
                    self._finish()
                    return b""
                self._left = size
            data = c._take(self._left)
            self._left -= len(data)
            self._crlf = not self._left
            return data
        data = c._take_any()
        if not data:
            self.done = True
            c.close()
        return data

    def iter_raw(self) -> Iterator[bytes]:
        """Yield the body's bytes as they arrive."""
        while True:
            data = self.read_some()
            if not data:
                return
            yield data

    def read(self) -> bytes:
        """Return the whole body."""
        return b"".join(self.iter_raw())

    def json(self) -> Any:
        """Return the body decoded from JSON (None when empty)."""
        data = self.read()
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise CLIError(f"invalid JSON from the daemon: {data[:200]!r}") from None

    def iter_json(self) -> Iterator[Any]:
        """Yield each JSON message of a stream (newline-delimited or concatenated)."""
        decoder = json.JSONDecoder()
        pending = ""
        for data in self.iter_raw():
            pending += data.decode("utf-8", "replace")
            while True:
                pending = pending.lstrip()
                if not pending:
                    break
                try:
                    obj, end = decoder.raw_decode(pending)
                except ValueError:
                    break  # incomplete: wait for more bytes
                yield obj
                pending = pending[end:]
        if pending.strip():
            raise CLIError(f"invalid JSON from the daemon: {pending[:200]!r}")

    def error(self) -> APIError:
        """Return the APIError for this (4xx/5xx) answer, with the daemon's message."""
        body = self.read()
        message = ""
        try:
            doc = json.loads(body) if body.strip() else None
            if isinstance(doc, dict):
                message = str(doc.get("message") or doc.get("Message") or "")
        except ValueError:
            pass
        if not message:
            message = body.decode("utf-8", "replace").strip() or f"{self.status} {self.reason}"
        return APIError(self.status, message)


class Hijacked:
    """The raw two-way stream of an attach or exec after HTTP 101."""

    def __init__(self, sock: socket.socket, leftover: bytes, headers: dict[str, str]) -> None:
        self.sock = sock
        self.leftover = leftover
        self.headers = headers

    def recv(self) -> bytes:
        """Return the next bytes from the daemon; b"" when it closed its side."""
        if self.leftover:
            data, self.leftover = self.leftover, b""
            return data
        try:
            return self.sock.recv(_RECV)
        except ConnectionResetError:
            return b""

    def sendall(self, data: bytes) -> None:
        """Send bytes to the container's stdin."""
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: tell the daemon stdin has ended, keep reading output."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        """Close the stream."""
        self.sock.close()
