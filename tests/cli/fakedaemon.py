"""A fake shoald on a temp UNIX socket that records every request the CLI makes.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length and chunked
bodies, chunked answers, 101 upgrades) and simulates containers whose
"program" is chosen by their command:

    echo WORDS...      print WORDS on stdout, exit 0
    fail CODE          print "failing" on stderr, exit CODE
    cat                copy stdin (attached) to stdout until EOF, exit 0
    sleep              run until killed (exit 128+signal)
    /no/such/binary    start fails: 400 "...no such file or directory"
    anything else      exit 0 with no output

Networks and volumes live in ``fakenet`` (``daemon.networks``, ``daemon.volumes``).
Tests read ``daemon.requests`` (method, path without /v1.44, query, headers,
body) and may override a route with ``daemon.route(method, regex, handler)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 101: "UPGRADED",
               304: "Not Modified", 400: "Bad Request", 404: "Not Found", 409: "Conflict",
               500: "Internal Server Error"}


def frame(stream: int, data: bytes) -> bytes:
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


class Request:
    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes,
                 conn: Conn) -> None:
        self.method = method
        parts = urlsplit(target)
        self.path = re.sub(r"^/v1\.\d+", "", parts.path)
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.raw_query = parts.query
        self.headers = headers
        self.body = body
        self.conn = conn
        self.match: re.Match[str] | None = None

    def q(self, key: str, default: str | None = None) -> str | None:
        vals = self.query.get(key)
        return vals[-1] if vals else default

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def __repr__(self) -> str:
        return f"<{self.method} {self.path}?{self.raw_query}>"


class Conn:
    """One client connection: read requests, write answers."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.hijacked = False

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self) -> bytes | None:
        while b"\r\n" not in self.buf:
            if not self._fill():
                return None
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_request(self) -> Request | None:
        line = self.readline()
        if not line:
            return None
        method, target, _ = line.decode().split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            h = self.readline()
            if h is None:
                return None
            if not h:
                break
            k, _, v = h.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            body = b""
            while True:
                size = int(self.readline() or b"0", 16)
                if size == 0:
                    self.readline()
                    break
                body += self.read_exact(size)
                self.readline()
            headers["x-was-chunked"] = "1"
        else:
            body = self.read_exact(int(headers.get("content-length", "0")))
        return Request(method, target, headers, body, self)

    def respond(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
                chunks: list[bytes] | None = None) -> None:
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        head = f"HTTP/1.1 {status} {STATUS_TEXT.get(status, 'X')}\r\n"
        if chunks is not None:
            hdrs["Transfer-Encoding"] = "chunked"
        elif status not in (101, 204, 304):
            hdrs["Content-Length"] = str(len(body or b""))
        head += "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        self.sock.sendall(head.encode() + (body or b""))
        if chunks is not None:
            for c in chunks:
                self.sock.sendall(b"%x\r\n%b\r\n" % (len(c), c))
            self.sock.sendall(b"0\r\n\r\n")

    def send_chunk(self, data: bytes) -> None:
        self.sock.sendall(b"%x\r\n%b\r\n" % (len(data), data))

    def start_chunked(self, status: int = 200, ctype: str = "application/json") -> None:
        self.sock.sendall(f"HTTP/1.1 {status} OK\r\nContent-Type: {ctype}\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n".encode())

    def end_chunked(self) -> None:
        self.sock.sendall(b"0\r\n\r\n")

    def upgrade(self, ctype: str) -> None:
        self.hijacked = True
        self.sock.sendall(("HTTP/1.1 101 UPGRADED\r\nContent-Type: " + ctype +
                           "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n").encode())

    def read_stdin(self) -> bytes:
        """Read raw bytes until the client half-closes."""
        data, self.buf = self.buf, b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return data
            data += chunk


class Container:
    def __init__(self, cid: str, name: str, config: dict[str, Any]) -> None:
        self.id, self.name, self.config = cid, name, config
        self.host = config.get("HostConfig") or {}
        self.cmd = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
        self.started = threading.Event()
        self.exited = threading.Event()
        self.removed = threading.Event()
        self.attached = False
        self.killed: int | None = None
        self.exit_code = 0
        self.output: list[tuple[int, bytes]] = []
        self.running = False

    def run(self, stdin: bytes | None = None) -> list[tuple[int, bytes]]:
        """Compute the program's output and exit code."""
        cmd = self.cmd
        out: list[tuple[int, bytes]] = []
        if cmd[:1] == ["echo"]:
            out.append((1, (" ".join(cmd[1:]) + "\n").encode()))
        elif cmd[:1] == ["fail"]:
            out.append((2, b"failing\n"))
            self.exit_code = int(cmd[1])
        elif cmd[:1] == ["cat"]:
            out.append((1, stdin or b""))
        self.output += out
        return out


class FakeDaemon:
    def __init__(self, path: str) -> None:
        self.path = path
        self.host = "unix://" + path
        self.requests: list[Request] = []
        self.containers: dict[str, Container] = {}
        self.images: dict[str, dict[str, Any]] = {}
        self.execs: dict[str, dict[str, Any]] = {}
        self.uploads: list[bytes] = []
        self.connections = 0
        self.routes: list[tuple[str, re.Pattern[str], Any]] = []
        self.lock = threading.Lock()
        self._default_routes()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    # -- plumbing ---------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Any) -> None:
        """Add a route that wins over the defaults: handler(daemon, req) -> None."""
        self.routes.insert(0, (method, re.compile(pattern + "$"), handler))

    def close(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(Conn(s),), daemon=True).start()

    def _serve(self, conn: Conn) -> None:
        try:
            while not conn.hijacked:
                req = conn.read_request()
                if req is None:
                    break
                with self.lock:
                    self.requests.append(req)
                self._dispatch(req)
        except (OSError, EOFError):
            pass
        finally:
            conn.sock.close()

    def _dispatch(self, req: Request) -> None:
        for method, pattern, handler in self.routes:
            m = pattern.match(req.path)
            if m and method == req.method:
                req.match = m
                handler(self, req)
                return
        req.conn.respond(404, {"message": f"page not found: {req.method} {req.path}"})

    def calls(self, prefix: str = "") -> list[str]:
        """Return "METHOD /path" of the recorded requests (paths starting with prefix)."""
        return [f"{r.method} {r.path}" for r in self.requests if r.path.startswith(prefix)]

    def find(self, ref: str) -> Container | None:
        for c in self.containers.values():
            if ref in (c.id, c.name) or (len(ref) >= 4 and c.id.startswith(ref)):
                return c
        return None

    def _container(self, req: Request) -> Container | None:
        c = self.find(req.match.group(1)) if req.match else None
        if c is None:
            req.conn.respond(404, {"message": f"No such container: {req.match.group(1)}"})
        return c

    # -- routes -----------------------------------------------------------
    def _default_routes(self) -> None:
        r = self.route
        r("GET", r"/_ping", lambda d, q: q.conn.respond(200, b"OK"))
        r("GET", r"/version", lambda d, q: q.conn.respond(200, {
            "Version": "0.1.0", "ApiVersion": "1.44", "MinAPIVersion": "1.24",
            "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1"}))
        r("GET", r"/info", lambda d, q: q.conn.respond(200, {
            "Containers": len(d.containers), "Images": len(d.images), "NCPU": 4,
            "MemTotal": 8 << 30, "ServerVersion": "0.1.0"}))
        r("POST", r"/containers/create", FakeDaemon.h_create)
        r("POST", r"/containers/([^/]+)/attach", FakeDaemon.h_attach)
        r("POST", r"/containers/([^/]+)/wait", FakeDaemon.h_wait)
        r("POST", r"/containers/([^/]+)/start", FakeDaemon.h_start)
        r("POST", r"/containers/([^/]+)/resize", lambda d, q: q.conn.respond(200, b""))
        r("POST", r"/containers/([^/]+)/kill", FakeDaemon.h_kill)
        r("POST", r"/containers/([^/]+)/(stop|restart)", FakeDaemon.h_stop)
        r("DELETE", r"/containers/([^/]+)", FakeDaemon.h_rm)
        r("GET", r"/containers/json", FakeDaemon.h_ps)
        r("GET", r"/containers/([^/]+)/json", FakeDaemon.h_inspect)
        r("GET", r"/containers/([^/]+)/logs", FakeDaemon.h_logs)
        r("POST", r"/containers/([^/]+)/exec", FakeDaemon.h_exec_create)
        r("POST", r"/exec/([^/]+)/start", FakeDaemon.h_exec_start)
        r("POST", r"/exec/([^/]+)/resize", lambda d, q: q.conn.respond(201, b""))
        r("GET", r"/exec/([^/]+)/json", lambda d, q: q.conn.respond(
            200, {"ExitCode": d.execs[q.match.group(1)]["exit"], "Running": False}))
        r("POST", r"/images/create", FakeDaemon.h_image_create)
        r("POST", r"/images/load", FakeDaemon.h_load)
        r("GET", r"/images/get", FakeDaemon.h_save)
        r("GET", r"/images/json", FakeDaemon.h_images)
        r("GET", r"/images/(.+)/json", FakeDaemon.h_image_inspect)
        r("POST", r"/images/(.+)/tag", lambda d, q: q.conn.respond(201, b""))
        r("DELETE", r"/images/(.+)", FakeDaemon.h_rmi)

    def h_create(self, req: Request) -> None:
        body = req.json()
        image = body["Image"]
        if image.split(":")[0] not in self.images and image not in self.images:
            req.conn.respond(404, {"message": f"No such image: {image}"})
            return
        cid = hashlib.sha256(f"{len(self.containers)}{time.time()}".encode()).hexdigest()
        name = req.q("name") or f"c{len(self.containers)}"
        self.containers[cid] = Container(cid, name, body)
        req.conn.respond(201, {"Id": cid, "Warnings": []})

    def h_attach(self, req: Request) -> None:
        c = self._container(req)
        if c is None:
            return
        tty = bool(c.config.get("Tty"))
        c.attached = True
        req.conn.upgrade("application/vnd.docker.raw-stream" if tty
                         else "application/vnd.docker.multiplexed-stream")
        if not c.started.wait(5):
            return
        stdin = req.conn.read_stdin() if req.q("stdin") == "1" else None
        if c.cmd[:1] == ["sleep"]:
            c.exited.wait(10)
        else:
            for stream, data in c.run(stdin):
                req.conn.sock.sendall(data if tty else frame(stream, data))
        self._exit(c)
        req.conn.sock.close()

    def _exit(self, c: Container) -> None:
        c.running = False
        c.exited.set()
        if c.host.get("AutoRemove"):
            self.containers.pop(c.id, None)
            c.removed.set()

    def h_wait(self, req: Request) -> None:
        c = self._container(req)
        if c is None:
            return
        req.conn.start_chunked()  # headers at once, like shoald: the wait is registered
        cond = req.q("condition", "not-running")
        ev = c.removed if cond == "removed" else c.exited
        ev.wait(10)
        req.conn.send_chunk(json.dumps({"StatusCode": c.exit_code, "Error": None}).encode())
        req.conn.end_chunked()

    def h_start(self, req: Request) -> None:
        c = self._container(req)
        if c is None:
            return
        if c.cmd[:1] == ["/no/such/binary"]:
            c.exit_code = 127
            self._exit(c)
            req.conn.respond(400, {"message": "failed to create task: exec: "
                                              '"/no/such/binary": stat /no/such/binary: '
                                              "no such file or directory"})
            return
        c.running = True
        c.started.set()
        c.exited.clear()
        req.conn.respond(204)
        if not c.attached and c.cmd[:1] != ["sleep"]:
            c.run()
            self._exit(c)

    def h_kill(self, req: Request) -> None:
        c = self._container(req)
        if c is None:
            return
        sig = req.q("signal", "KILL")
        c.killed = {"KILL": 9, "TERM": 15, "INT": 2, "HUP": 1}.get(sig or "KILL", 9)
        c.exit_code = 128 + c.killed
        self._exit(c)
        req.conn.respond(204)

    def h_stop(self, req: Request) -> None:
        c = self._container(req)
        if c is None:
            return
        req.conn.respond(204)

    def h_rm(self, req: Request) -> None:
        c = self._container(req)
        if c is None:
            return
        if c.running and req.q("force") != "1":
            req.conn.respond(409, {"message": f"cannot remove container \"/{c.name}\": "
                                              "container is running: stop the container "
                                              "before removing or force remove"})
            return
        self.containers.pop(c.id, None)
        c.removed.set()
        req.conn.respond(204)

    def h_ps(self, req: Request) -> None:
        now = int(time.time())
        items = []
        for c in self.containers.values():
            if not c.running and req.q("all") != "1":
                continue
            items.append({
                "Id": c.id, "Names": ["/" + c.name], "Image": c.config["Image"],
                "ImageID": "sha256:" + "ab" * 32, "Command": " ".join(c.cmd),
                "Created": now - 120, "Ports": [], "Labels": c.config.get("Labels") or {},
                "State": "running" if c.running else "exited",
                "Status": "Up 2 minutes" if c.running else f"Exited ({c.exit_code}) 1 second ago",
            })
        req.conn.respond(200, items)

    def h_inspect(self, req: Request) -> None:
        c = self._container(req)
        if c is None:
            return
        cfg = {k: v for k, v in c.config.items() if k not in ("HostConfig", "NetworkingConfig")}
        req.conn.respond(200, {
            "Id": c.id, "Name": "/" + c.name, "Config": cfg, "HostConfig": c.host,
            "State": {"Status": "running" if c.running else "exited", "Running": c.running,
                      "Paused": False, "Restarting": False, "ExitCode": c.exit_code,
                      "StartedAt": "2024-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"},
        })

    def h_logs(self, req: Request) -> None:
        c = self._container(req)
        if c is None:
            return
        tty = bool(c.config.get("Tty"))
        req.conn.start_chunked(ctype="application/vnd.docker.raw-stream" if tty
                               else "application/vnd.docker.multiplexed-stream")
        for stream, data in c.output:
            want = {1: req.q("stdout") == "1", 2: req.q("stderr") == "1"}
            if want.get(stream):
                req.conn.send_chunk(data if tty else frame(stream, data))
        req.conn.end_chunked()

    def h_exec_create(self, req: Request) -> None:
        c = self._container(req)
        if c is None:
            return
        if not c.running:
            req.conn.respond(409, {"message": f"Container {c.id} is not running"})
            return
        eid = hashlib.sha256(f"exec{len(self.execs)}".encode()).hexdigest()
        self.execs[eid] = {"config": req.json(), "container": c.id, "exit": 0}
        req.conn.respond(201, {"Id": eid})

    def h_exec_start(self, req: Request) -> None:
        ex = self.execs[req.match.group(1)]
        cfg, start = ex["config"], req.json() or {}
        cmd = cfg["Cmd"]
        if start.get("Detach"):
            req.conn.respond(200, b"")
            return
        tty = bool(cfg.get("Tty"))
        req.conn.upgrade("application/vnd.docker.raw-stream" if tty
                         else "application/vnd.docker.multiplexed-stream")
        stdin = req.conn.read_stdin() if cfg.get("AttachStdin") else b""
        out: list[tuple[int, bytes]] = []
        if cmd[:1] == ["echo"]:
            out.append((1, (" ".join(cmd[1:]) + "\n").encode()))
        elif cmd[:1] == ["fail"]:
            out.append((2, b"failing\n"))
            ex["exit"] = int(cmd[1])
        elif cmd[:1] == ["wc"]:
            out.append((1, f"{len(stdin)}\n".encode()))
        for stream, data in out:
            req.conn.sock.sendall(data if tty else frame(stream, data))
        req.conn.sock.close()

    def h_image_create(self, req: Request) -> None:
        if req.q("fromImage"):
            req.conn.respond(404, {"message": f"pull access denied for {req.q('fromImage')}"})
            return
        self.uploads.append(req.body)
        digest = "sha256:" + hashlib.sha256(req.body).hexdigest()
        repo = req.q("repo") or ""
        if repo:
            self.images[repo] = {"Id": digest, "RepoTags": [f"{repo}:{req.q('tag') or 'latest'}"],
                                 "Created": int(time.time()) - 3600, "Size": len(req.body)}
        req.conn.respond(200, json.dumps({"status": digest}).encode() + b"\n",
                         {"Content-Type": "application/json"})

    def h_load(self, req: Request) -> None:
        self.uploads.append(req.body)
        req.conn.start_chunked()
        req.conn.send_chunk(json.dumps({"stream": "Loaded image: busybox:latest\n"}).encode()
                            + b"\n")
        req.conn.end_chunked()

    def h_save(self, req: Request) -> None:
        req.conn.start_chunked(ctype="application/x-tar")
        for name in req.query.get("names", []):
            req.conn.send_chunk(f"tar-of-{name};".encode() * 1000)
        req.conn.end_chunked()

    def h_images(self, req: Request) -> None:
        req.conn.respond(200, [{"Id": im["Id"], "RepoTags": im["RepoTags"],
                                "RepoDigests": [], "Created": im["Created"],
                                "Size": im["Size"]} for im in self.images.values()])

    def h_image_inspect(self, req: Request) -> None:
        name = req.match.group(1)
        im = self.images.get(name) or self.images.get(name.split(":")[0])
        if im is None:
            req.conn.respond(404, {"message": f"No such image: {name}"})
            return
        req.conn.respond(200, {"Id": im["Id"], "RepoTags": im["RepoTags"]})

    def h_rmi(self, req: Request) -> None:
        name = req.match.group(1)
        im = self.images.pop(name, None) or self.images.pop(name.split(":")[0], None)
        if im is None:
            req.conn.respond(404, {"message": f"No such image: {name}"})
            return
        req.conn.respond(200, [{"Untagged": im["RepoTags"][0]}, {"Deleted": im["Id"]}])


def add_image(daemon: FakeDaemon, name: str = "busybox") -> None:
    daemon.images[name] = {"Id": "sha256:" + hashlib.sha256(name.encode()).hexdigest(),
                           "RepoTags": [f"{name}:latest"], "Created": int(time.time()) - 86400,
                           "Size": 4264960}


def new_daemon(tmp: str) -> FakeDaemon:
    from tests.cli import fakenet

    path = os.path.join(tmp, "shoal.sock")
    d = FakeDaemon(path)
    fakenet.install(d)
    add_image(d)
    return d
