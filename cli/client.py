"""Talk HTTP/1.1 to the daemon over a UNIX socket (or TCP): requests, streams, hijacks.

A deliberately small client instead of http.client (16 ms to import: email,
ssl) or requests: one keep-alive socket per Client, bodies sent from bytes,
JSON or a streamed file (sendfile for regular files, chunked otherwise),
response bodies read whole or streamed (Content-Length, chunked, or until
close), and the hijacked connections of attach and exec start (HTTP 101).

Paths are Docker Engine API paths; the client prefixes them with /v1.44.
"""

from __future__ import annotations

import json
import socket
import sys

from shoal import API_VERSION, __version__

from .errors import CLIError, ConnectionFailed
from .response import Hijacked, Response, StaleConnection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, BinaryIO

DEFAULT_HOST = "unix:///run/shoal/shoal.sock"
_RECV = 65536
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def parse_host(host: str) -> tuple[int, Any]:
    """Return (address family, address) for ``unix:///path``, ``tcp://h:p`` or a path."""
    if host.startswith("unix://"):
        path = host[7:]
        if path:
            return socket.AF_UNIX, path
    elif host.startswith(("tcp://", "http://")):
        rest = host.split("://", 1)[1].rstrip("/")
        name, sep, port = rest.rpartition(":")
        if not sep:
            name, port = rest, "2375"
        name = name.strip("[]") or "127.0.0.1"
        if port.isdigit():
            fam = socket.AF_INET6 if ":" in name else socket.AF_INET
            return fam, (name, int(port))
    elif host.startswith("/"):
        return socket.AF_UNIX, host
    raise CLIError(f"unable to parse shoal host `{host}`")


def quote(value: str) -> str:
    """Percent-encode a query value (every byte but RFC 3986's unreserved set)."""
    raw = value.encode()
    if all(b in _SAFE for b in raw):
        return value
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in raw)


def encode_query(params: Mapping[str, Any] | None) -> str:
    """Encode params as ``?k=v&...``; None is skipped, True is "1", lists repeat the key."""
    if not params:
        return ""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        for v in value if isinstance(value, list | tuple) else (value,):
            if v is True or v is False:
                v = "1" if v else "0"
            parts.append(f"{quote(key)}={quote(str(v))}")
    return "?" + "&".join(parts) if parts else ""


class Client:
    """Send requests to one daemon over one keep-alive connection."""

    def __init__(self, host: str = DEFAULT_HOST, debug: bool = False) -> None:
        self.host = host
        self.debug = debug
        self.family, self.address = parse_host(host)
        if self.family == socket.AF_UNIX:
            self.host_header = "localhost"
        else:
            self.host_header = f"{self.address[0]}:{self.address[1]}"
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self._busy: Response | None = None
        self._reused = False
        self._replay: bytes | None = None
        self._early: Response | None = None

    def clone(self) -> Client:
        """Return a client to the same daemon with its own connection."""
        return Client(self.host, self.debug)

    # -- connection -------------------------------------------------------
    def connect(self) -> socket.socket:
        """Open a new socket to the daemon (or raise ConnectionFailed)."""
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            sock.connect(self.address)
        except PermissionError as exc:
            sock.close()
            raise ConnectionFailed(
                "permission denied while trying to connect to the shoal daemon socket at "
                f"{self.host}: {exc.strerror}") from None
        except OSError:
            sock.close()
            raise ConnectionFailed(
                f"Cannot connect to the shoal daemon at {self.host}. "
                "Is the shoal daemon running?") from None
        return sock

    def close(self) -> None:
        """Close the keep-alive connection."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buf.clear()
        self._busy = None

    def _fill(self) -> bool:
        assert self.sock is not None
        data = self.sock.recv(_RECV)
        if not data:
            return False
        self.buf += data
        return True

    def _eof_error(self) -> CLIError:
        self.close()
        return CLIError("error during connect: unexpected EOF from the shoal daemon")

    def _take(self, n: int) -> bytes:
        """Return up to n bytes, waiting for at least one."""
        if not self.buf and not self._fill():
            raise self._eof_error()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _take_any(self) -> bytes:
        if not self.buf and not self._fill():
            return b""
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def _readline(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            if not self._fill():
                raise self._eof_error()

    # -- requests ---------------------------------------------------------
    def _head(self, method: str, path: str, params: Mapping[str, Any] | None,
              headers: Mapping[str, str] | None) -> list[str]:
        target = f"/v{API_VERSION}{path}{encode_query(params)}"
        if self.debug:
            sys.stderr.write(f"DEBU {method} {target}\n")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host_header}",
                 f"User-Agent: shoal-cli/{__version__}"]
        if headers:
            lines += [f"{k}: {v}" for k, v in headers.items()]
        return lines

    def send(self, method: str, path: str, params: Mapping[str, Any] | None = None,
             body: Any = None, headers: Mapping[str, str] | None = None) -> None:
        """Send a request; read its answer later with get_response().

        ``body`` is bytes, a JSON-able dict/list, or a binary file object that is
        streamed (sendfile when it is a regular file, chunked otherwise).
        """
        hdrs = dict(headers or {})
        payload: bytes | None = None
        stream: BinaryIO | None = None
        size: int | None = None
        if isinstance(body, bytes):
            payload = body
        elif isinstance(body, dict | list):
            payload = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif body is not None:
            stream = body
            size = _regular_size(stream)
        if payload is not None:
            hdrs["Content-Length"] = str(len(payload))
        elif stream is not None:
            if size is None:
                hdrs["Transfer-Encoding"] = "chunked"
            else:
                hdrs["Content-Length"] = str(size)
        elif method in ("POST", "PUT"):
            hdrs["Content-Length"] = "0"
        head = ("\r\n".join(self._head(method, path, params, hdrs)) + "\r\n\r\n").encode()
        if self._busy is not None and not self._busy.done:
            self.close()  # an unread body is in the way: start afresh
        fresh = self.sock is None
        for attempt in (0, 1):
            if self.sock is None:
                self.sock = self.connect()
                self.buf.clear()
            try:
                self.sock.sendall(head + payload if payload else head)
                break
            except OSError:
                self.close()
                if fresh or attempt or stream is not None:
                    raise ConnectionFailed(
                        f"error during connect: lost the connection to {self.host}") from None
        self._reused = not fresh
        self._replay = (head + payload if payload else head) if stream is None else None
        if stream is not None:
            try:
                self._send_stream(stream, size)
            except OSError:
                pass  # the daemon may have answered early (an error): read it below

    def _send_stream(self, stream: BinaryIO, size: int | None) -> None:
        assert self.sock is not None
        if size is not None:
            self.sock.sendfile(stream)
            return
        read = getattr(stream, "read1", stream.read)
        while True:
            chunk = read(_RECV)
            if not chunk:
                break
            self.sock.sendall(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        self.sock.sendall(b"0\r\n\r\n")

    def peek_response(self, method: str = "GET", timeout: float = 1.0) -> bool:
        """Read the answer's head if it comes within timeout; tell whether it did.

        Used for ``wait``: dockerd and shoald send its headers as soon as the wait
        is registered, so reading them before ``start`` closes the race where a
        short-lived (--rm) container is gone before the wait is in place.
        """
        if self.sock is None:
            return False
        self.sock.settimeout(timeout)
        try:
            self._early = self._read_head(method)
        except TimeoutError:
            return False
        except StaleConnection:
            return False
        finally:
            if self.sock is not None:
                self.sock.settimeout(None)
        return True

    def get_response(self, method: str = "GET", check: bool = True) -> Response:
        """Read the status line and headers of the answer to the last send()."""
        if self._early is not None:
            resp, self._early = self._early, None
            self._busy = resp
            if check and resp.status >= 400:
                raise resp.error()
            return resp
        try:
            resp = self._read_head(method)
        except StaleConnection:
            if not (self._reused and self._replay):
                raise CLIError(
                    "error during connect: the shoal daemon closed the connection") from None
            # The daemon had closed this idle keep-alive connection: resend once.
            self.sock = self.connect()
            self.sock.sendall(self._replay)
            self._reused = False
            try:
                resp = self._read_head(method)
            except StaleConnection:
                raise CLIError(
                    "error during connect: the shoal daemon closed the connection") from None
        self._busy = resp
        if check and resp.status >= 400:
            raise resp.error()
        return resp

    def _read_head(self, method: str) -> Response:
        if self.sock is None:
            raise self._eof_error()
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            try:
                ok = self._fill()
            except TimeoutError:
                raise
            except OSError:
                ok = False
            if not ok:
                empty = not self.buf
                err = self._eof_error()
                raise StaleConnection() if empty else err
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        version, _, rest = head[0].partition(" ")
        code, _, reason = rest.partition(" ")
        headers: dict[str, str] = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        conn = headers.get("connection", "").lower()
        keep = (version == "HTTP/1.1" and conn != "close") or conn == "keep-alive"
        resp = Response(self, int(code), reason, headers, method, keep)
        if self.debug:
            sys.stderr.write(f"DEBU <- {code} {reason}\n")
        return resp

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None,
                body: Any = None, headers: Mapping[str, str] | None = None,
                check: bool = True) -> Response:
        """Send a request and return its response (raising APIError for 4xx/5xx)."""
        self.send(method, path, params, body, headers)
        return self.get_response(method, check)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a JSON document."""
        return self.request("GET", path, params).json()

    def post(self, path: str, params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        """POST and return the decoded JSON answer (None when it has no body)."""
        return self.request("POST", path, params, body).json()

    def delete(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """DELETE and return the decoded JSON answer (None when it has no body)."""
        return self.request("DELETE", path, params).json()

    def hijack(self, path: str, params: Mapping[str, Any] | None = None,
               body: Any = None) -> Hijacked:
        """POST with ``Upgrade: tcp`` and return the raw bidirectional stream (HTTP 101)."""
        conn = self.clone()
        conn.send("POST", path, params, body, {"Connection": "Upgrade", "Upgrade": "tcp"})
        resp = conn.get_response("HIJACK")
        sock = conn.sock
        assert sock is not None
        leftover = bytes(conn.buf)
        conn.sock = None
        return Hijacked(sock, leftover, resp.headers)


def _regular_size(stream: Any) -> int | None:
    import os
    import stat

    try:
        st = os.fstat(stream.fileno())
        if stat.S_ISREG(st.st_mode):
            return st.st_size - stream.tell()
    except (OSError, AttributeError, ValueError):
        pass
    return None
