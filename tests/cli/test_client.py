"""The small HTTP client: framing, keep-alive, errors, hijack, against scripted servers."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading

import pytest

from shoal.cli.client import Client, encode_query, parse_host, quote
from shoal.cli.errors import APIError, CLIError, ConnectionFailed


class Scripted:
    """Serve canned answers: one list of byte strings per accepted connection."""

    def __init__(self, family: int = socket.AF_UNIX) -> None:
        self.dir = tempfile.mkdtemp(prefix="shoal-cl-")
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_UNIX:
            self.host = "unix://" + os.path.join(self.dir, "s.sock")
            self.sock.bind(self.host[7:])
        else:
            self.sock.bind(("127.0.0.1", 0))
            self.host = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.sock.listen(8)
        self.conns: list[list[list[bytes]]] = []  # per connection: answers, each in pieces
        self.seen: list[bytes] = []
        self.close_after: set[int] = set()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        n = 0
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            answers = self.conns[n] if n < len(self.conns) else []
            close = n in self.close_after
            n += 1
            threading.Thread(target=self._conn, args=(s, answers, close), daemon=True).start()

    def _conn(self, s: socket.socket, answers: list[list[bytes]], close: bool) -> None:
        buf = b""
        for pieces in answers:
            while b"\r\n\r\n" not in buf:
                data = s.recv(65536)
                if not data:
                    s.close()
                    return
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(buf) < length:
                buf += s.recv(65536)
            self.seen.append(head + b"\r\n\r\n" + buf[:length])
            buf = buf[length:]
            for p in pieces:
                s.sendall(p)
        if close or not answers:
            s.close()
        else:
            s.recv(1)  # hold the connection open until the client leaves
            s.close()

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def server():
    s = Scripted()
    yield s
    s.close()


OK_JSON = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
           b'{"a": true}')


def test_content_length_json_and_request_format(server):
    server.conns = [[[OK_JSON]]]
    c = Client(server.host)
    assert c.get("/containers/json", {"all": True, "filters": '{"a":{"b":true}}'}) == {"a": True}
    head = server.seen[0].decode()
    assert head.startswith("GET /v1.44/containers/json?all=1&filters=%7B%22a%22%3A%7B%22b"
                           "%22%3Atrue%7D%7D HTTP/1.1\r\n")
    assert "Host: localhost\r\n" in head and "User-Agent: shoal-cli/" in head


def test_chunked_split_anywhere_with_extensions_and_trailers(server):
    body = (b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n"
            b"X-Trailer: 1\r\n\r\n")
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw = head + body
    server.conns = [[[raw[i:i + 3] for i in range(0, len(raw), 3)], [OK_JSON]]]
    c = Client(server.host)
    assert c.request("GET", "/x").read() == b"Wikipedia in\r\n\r\nchunks."
    assert c.get("/y") == {"a": True}  # same connection, framing intact


def test_close_delimited_body(server):
    server.conns = [[[b"HTTP/1.0 200 OK\r\n\r\nall of it"]]]
    server.close_after = {0}
    c = Client(server.host)
    assert c.request("GET", "/x").read() == b"all of it"
    assert c.sock is None


def test_keep_alive_reuses_one_connection(server):
    server.conns = [[[OK_JSON], [b"HTTP/1.1 204 No Content\r\n\r\n"], [OK_JSON]]]
    c = Client(server.host)
    assert c.get("/a") == {"a": True}
    assert c.post("/b") is None
    assert c.get("/c") == {"a": True}
    assert len(server.seen) == 3
    assert b"Content-Length: 0\r\n" in server.seen[1]


def test_stale_keep_alive_connection_is_retried_once(server):
    server.conns = [[[OK_JSON]], [[OK_JSON]]]
    server.close_after = {0}
    c = Client(server.host)
    c.get("/a")
    assert c.sock is not None  # looks reusable: no Connection: close
    assert c.get("/b") == {"a": True}
    assert [s.split(b" ")[1] for s in server.seen] == [b"/v1.44/a", b"/v1.44/b"]


@pytest.mark.parametrize("answer,message", [
    (b'HTTP/1.1 404 Not Found\r\nContent-Length: 36\r\n\r\n{"message":"No such container: abc"}',
     "Error response from daemon: No such container: abc"),
    (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops\n",
     "Error response from daemon: oops"),
    (b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
     "Error response from daemon: 502 Bad Gateway"),
])
def test_errors_carry_the_daemon_message(server, answer, message):
    server.conns = [[[answer]]]
    with pytest.raises(APIError) as exc:
        Client(server.host).get("/x")
    assert str(exc.value) == message and exc.value.exit_code == 1


def test_connection_refused():
    with pytest.raises(ConnectionFailed, match="Cannot connect to the shoal daemon at "
                                               "unix:///nonexistent/s.sock"):
        Client("unix:///nonexistent/s.sock").get("/x")


def test_truncated_answer(server):
    server.conns = [[[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"]]]
    server.close_after = {0}
    with pytest.raises(CLIError, match="unexpected EOF"):
        Client(server.host).request("GET", "/x").read()


def test_hijack_keeps_bytes_sent_with_the_101(server):
    server.conns = [[[b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
                      b"\x01\x00\x00\x00\x00\x00\x00\x02hi", b"more"]]]
    server.close_after = {0}
    hj = Client(server.host).hijack("/containers/x/attach", {"stream": True, "stdin": None})
    got = b""
    while data := hj.recv():
        got += data
    assert got == b"\x01\x00\x00\x00\x00\x00\x00\x02himore"
    head = server.seen[0].decode()
    assert head.startswith("POST /v1.44/containers/x/attach?stream=1 HTTP/1.1")
    assert "Connection: Upgrade\r\n" in head and "Upgrade: tcp\r\n" in head


def test_hijack_error(server):
    server.conns = [[[b'HTTP/1.1 409 Conflict\r\nContent-Length: 27\r\n\r\n'
                      b'{"message":"not running ok"}']]]
    with pytest.raises(APIError, match="not running"):
        Client(server.host).hijack("/exec/x/start", body={"Detach": False})


def test_json_stream_concatenated_and_split(server):
    msgs = b'{"status":"a"}{"status"' + b':"b"}\n\n{"stream":"c\\n"}\n'
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(msgs[i:i + 7]), msgs[i:i + 7])
                      for i in range(0, len(msgs), 7)) + b"0\r\n\r\n"
    server.conns = [[[head + chunks]]]
    resp = Client(server.host).request("POST", "/images/load")
    assert list(resp.iter_json()) == [{"status": "a"}, {"status": "b"}, {"stream": "c\n"}]


def test_tcp_host():
    s = Scripted(socket.AF_INET)
    try:
        s.conns = [[[OK_JSON]]]
        c = Client(s.host)
        assert c.get("/version") == {"a": True}
        assert b"Host: 127.0.0.1:" in s.seen[0]
    finally:
        s.close()


def test_streamed_upload_from_pipe_is_chunked(server):
    server.conns = [[[OK_JSON]]]
    r, w = os.pipe()
    os.write(w, b"tar" * 10)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        Client(server.host).request("POST", "/images/load", body=f)
    seen = server.seen[0]
    assert b"Transfer-Encoding: chunked\r\n" in seen


def test_encode_query_and_hosts():
    assert encode_query({"a": True, "b": False, "c": None, "d": ["x y", "é"], "e": 3}) == (
        "?a=1&b=0&d=x%20y&d=%C3%A9&e=3")
    assert encode_query({}) == "" and encode_query({"x": None}) == ""
    assert quote("a/b:c") == "a%2Fb%3Ac"
    assert parse_host("unix:///run/x.sock") == (socket.AF_UNIX, "/run/x.sock")
    assert parse_host("/run/x.sock") == (socket.AF_UNIX, "/run/x.sock")
    assert parse_host("tcp://10.0.0.1:2376") == (socket.AF_INET, ("10.0.0.1", 2376))
    assert parse_host("tcp://[::1]:2375") == (socket.AF_INET6, ("::1", 2375))
    with pytest.raises(CLIError, match="unable to parse shoal host `ssh://x`"):
        parse_host("ssh://x")
