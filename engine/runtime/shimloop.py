"""Serve one container process from its shim: output, stdin, the socket, exit.

A single-threaded poll loop over the child's pidfd, its control socket (exec
result), its output pipes or pty master, its stdin, and the clients of
``shim.sock`` (protocol.py). Output goes to the json-file log and to every
attached client; a slow client slows the reading of the output down rather
than making the shim buffer without bound. Stdlib only (runs in the shim).
"""

from __future__ import annotations

import _signal
import _socket
import fcntl
import os
import select
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
if TYPE_CHECKING or __package__:
    from . import jsonlite
    from . import protocol as proto
    from .shimlog import JsonLog, rfc3339_nano
else:
    import jsonlite
    import protocol as proto
    from shimlog import JsonLog, rfc3339_nano

CHUNK = 65536
CLIENT_HIGH_WATER = 4 << 20  # stop reading output while a client has this much queued
STDIN_HIGH_WATER = 1 << 20  # stop reading stdin frames while this much is queued
DRAIN_TIMEOUT = 2.0  # seconds to wait for output EOF once the process has exited
FLUSH_TIMEOUT = 5.0  # seconds to deliver the last frames to clients
_TIOCSWINSZ = 0x5414
_IN = select.POLLIN | select.POLLHUP | select.POLLERR
_MAX_SUN_PATH = 100


def proc_start_time(pid: int) -> int:
    """Return the start time of PID in clock ticks since boot (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return 0
    return int(data[data.rindex(b")") + 2 :].split()[19])


def socket_address(state_dir: str, dirfd: int) -> str:
    """Return the address of STATE_DIR/shim.sock, via /proc/self/fd if the path is too long."""
    path = state_dir + "/shim.sock"
    return path if len(path) < _MAX_SUN_PATH else f"/proc/self/fd/{dirfd}/shim.sock"


class Client:
    """One connection to shim.sock."""

    __slots__ = ("attached", "closing", "rbuf", "sock", "stdin", "wbuf")

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.rbuf = bytearray()
        self.wbuf = bytearray()
        self.attached = False
        self.stdin = False
        self.closing = False


class Loop:
    """The serving half of a shim (its setup half is shim.Shim)."""

    def __init__(
        self,
        state_dir: str,
        dirfd: int,
        spec: dict[str, Any],
        rt: dict[str, Any],
        state: dict[str, Any],
        listener: _socket.socket,
        ctl: _socket.socket,
    ) -> None:
        self.dir = state_dir
        self.dirfd = dirfd
        self.spec = spec
        self.rt = rt
        self.state = state
        self.listener: _socket.socket | None = listener
        listener.setblocking(False)
        self.ctl: _socket.socket | None = ctl
        ctl.setblocking(False)
        self.log = JsonLog(spec.get("log_path") or "", spec.get("log_max_size") or 0)
        self.clients: dict[int, Client] = {}
        self.pid = 0
        self.pidfd = -1
        self.outputs: dict[int, int] = {}
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.stdin_eof = False
        self.master = -1
        self.released = False
        self.exited = False
        self.start_error: dict[str, Any] | None = None
        self.pending_starts: list[Client] = []
        self.deadline = 0.0
        self.oom_base = self._oom_count()

    def adopt(
        self, pid: int, pidfd: int, outputs: dict[int, int], stdin_fd: int, master: int
    ) -> None:
        """Take over the child PID (blocked before exec) and its stdio fds."""
        self.pid, self.pidfd, self.outputs, self.master = pid, pidfd, outputs, master
        self.stdin_fd = stdin_fd
        for fd in [*outputs, stdin_fd]:
            if fd >= 0:
                os.set_blocking(fd, False)

    def save(self) -> None:
        """Write state.json atomically."""
        tmp = self.dir + "/state.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, jsonlite.dumps(self.state).encode())
        finally:
            os.close(fd)
        os.rename(tmp, self.dir + "/state.json")

    # ---- the loop

    def serve(self) -> None:
        """Run until the process has exited and its output is delivered."""
        while not (self.exited and (not self.outputs or time.monotonic() > self.deadline)):
            poller = select.poll()
            for fd, mask in self._interest().items():
                poller.register(fd, mask)
            timeout = None
            if self.exited:
                timeout = max(0, int((self.deadline - time.monotonic()) * 1000) + 1)
            try:
                events = poller.poll(timeout)
            except InterruptedError:
                continue
            for fd, ev in sorted(events, key=self._priority):
                try:
                    self._dispatch(fd, ev)
                except Exception as exc:  # keep serving the container whatever one event did
                    print(f"shim: event on fd {fd}: {exc!r}", file=sys.stderr, flush=True)
                    if fd in self.clients:
                        self._drop(self.clients[fd])
        self._finish()

    def _interest(self) -> dict[int, int]:
        want: dict[int, int] = {}
        if not self.exited:
            want[self.pidfd] = select.POLLIN
        if self.ctl is not None:
            want[self.ctl.fileno()] = select.POLLIN
        if not any(len(c.wbuf) > CLIENT_HIGH_WATER for c in self.clients.values()):
            for fd in self.outputs:
                want[fd] = select.POLLIN
        if self.stdin_buf and self.stdin_fd >= 0:
            want[self.stdin_fd] = want.get(self.stdin_fd, 0) | select.POLLOUT
        if self.listener is not None:
            want[self.listener.fileno()] = select.POLLIN
        stdin_full = len(self.stdin_buf) > STDIN_HIGH_WATER
        for fd, c in self.clients.items():
            mask = 0 if (stdin_full and c.stdin) else select.POLLIN
            want[fd] = mask | (select.POLLOUT if c.wbuf else 0)
        return want

    def _priority(self, event: tuple[int, int]) -> int:
        fd = event[0]
        if self.ctl is not None and fd == self.ctl.fileno():
            return 0
        if fd in self.outputs:
            return 1
        return 3 if fd == self.pidfd else 2

    def _dispatch(self, fd: int, ev: int) -> None:
        if self.ctl is not None and fd == self.ctl.fileno():
            self._read_ctl()
        elif fd == self.pidfd and not self.exited:
            self._reap()
        elif fd in self.outputs and ev & _IN:
            self._read_output(fd)
        elif self.listener is not None and fd == self.listener.fileno():
            self._accept()
        elif fd in self.clients:
            c = self.clients[fd]
            if ev & select.POLLOUT:
                self._flush(c)
            if ev & _IN and fd in self.clients:
                self._read_client(c)
        if fd == self.stdin_fd and ev & (select.POLLOUT | select.POLLERR):
            self._write_stdin()

    # ---- the child

    def _read_ctl(self) -> None:
        assert self.ctl is not None
        while True:
            try:
                msg = self.ctl.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                msg = b""
            if msg.startswith(b"E"):
                self.start_error = jsonlite.loads(msg[1:].decode())
                continue
            if msg:
                continue
            self.ctl.close()
            self.ctl = None
            if self.released:
                self._resolve_start()
            return

    def _resolve_start(self) -> None:
        """Answer START requests once the exec succeeded (ctl EOF) or failed (ctl error)."""
        if self.start_error is not None:
            self.state["error"] = self.start_error["error"]
            self.state["started_at"] = ""
            reply = proto.frame(proto.ERROR, jsonlite.dumps(self.start_error).encode())
        else:
            self.state["status"] = "running"
            self.save()
            reply = proto.frame(proto.OK, jsonlite.dumps({"pid": self.pid}).encode())
        for c in self.pending_starts:
            self._send(c, reply)
        self.pending_starts = []

    def _reap(self) -> None:
        if self.ctl is not None:
            self._read_ctl()
        _pid, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            code = 128 - code
        os.close(self.pidfd)
        self.exited = True
        self.deadline = time.monotonic() + DRAIN_TIMEOUT
        oom = self._oom_count() > self.oom_base
        if not oom and code == 128 + _signal.SIGKILL and self.oom_base >= 0:
            time.sleep(0.005)  # the OOM killer counts its kill after sending SIGKILL
            oom = self._oom_count() > self.oom_base
        if self.start_error is not None:
            code = int(self.start_error.get("exit_code", code))
        self.state.update(status="exited", exit_code=code, finished_at=rfc3339_nano(),
                          oom_killed=oom)  # fmt: skip
        self.save()

    def _oom_count(self) -> int:
        path = self.rt.get("oom_file")
        if not path:
            return -1
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            pass
        return -1

    def _read_output(self, fd: int) -> None:
        stream = self.outputs[fd]
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: the pty's last slave closed
            data = b""
        if not data:
            del self.outputs[fd]
            if fd == self.stdin_fd:
                self.stdin_fd = -1
            os.close(fd)
            return
        try:
            self.log.write(stream, data)
        except OSError as exc:  # a full disk must not cut attached clients off
            print(f"shim: log: {exc}", file=sys.stderr, flush=True)
        frame = proto.frame(proto.STDOUT if stream == 1 else proto.STDERR, data)
        for c in list(self.clients.values()):
            if c.attached:
                self._send(c, frame)

    def _write_stdin(self) -> None:
        if self.stdin_fd < 0:
            self.stdin_buf.clear()
            return
        try:
            n = os.write(self.stdin_fd, self.stdin_buf)
        except BlockingIOError:
            return
        except OSError:  # EPIPE: the process closed its stdin
            self.stdin_buf.clear()
            self._close_stdin()
            return
        del self.stdin_buf[:n]
        if not self.stdin_buf and self.stdin_eof:
            self._close_stdin()

    def _close_stdin(self) -> None:
        if self.stdin_fd >= 0 and self.stdin_fd != self.master:
            os.close(self.stdin_fd)
        self.stdin_fd = -1

    # ---- clients

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                fd, _addr = self.listener._accept()  # type: ignore[attr-defined]
            except (BlockingIOError, InterruptedError):
                return
            sock = _socket.socket(fileno=fd)
            sock.setblocking(False)
            self.clients[fd] = Client(sock)

    def _read_client(self, c: Client) -> None:
        try:
            data = c.sock.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(c)
            return
        c.rbuf += data
        for kind, payload in proto.split_frames(c.rbuf):
            self._handle(c, kind, payload)

    def _handle(self, c: Client, kind: bytes, payload: bytes) -> None:
        if kind == proto.STDIN:
            if self.stdin_fd >= 0 and not self.stdin_eof:
                self.stdin_buf += payload
                self._write_stdin()
        elif kind == proto.STDIN_CLOSE:
            self.stdin_eof = True
            if not self.stdin_buf:
                self._close_stdin()
        elif kind == proto.START:
            self._start(c)
        elif kind == proto.STATE:
            self._reply(c, self.state)
        elif kind == proto.SIGNAL:
            self._signal(c, int(jsonlite.loads(payload.decode())["signal"]))
        elif kind == proto.RESIZE:
            size = jsonlite.loads(payload.decode())
            if self.master >= 0 and self.master in self.outputs:
                words = [int(size["height"]), int(size["width"]), 0, 0]
                winsize = b"".join(w.to_bytes(2, sys.byteorder) for w in words)
                fcntl.ioctl(self.master, _TIOCSWINSZ, winsize)
            self._reply(c, {})
        elif kind == proto.ATTACH:
            c.attached = True
            c.stdin = bool(jsonlite.loads(payload.decode() or "{}").get("stdin"))
            self._reply(c, {})
        else:
            self._reply(c, {"error": f"unknown request {kind!r}", "kind": "system"}, proto.ERROR)

    def _start(self, c: Client) -> None:
        if self.exited:
            self._reply(c, {"error": "container process has exited", "kind": "not_running"},
                        proto.ERROR)  # fmt: skip
        elif self.released:
            self._reply(c, {"error": "already started", "kind": "conflict"}, proto.ERROR)
        elif self.ctl is None:  # died before its release; the pidfd will tell
            self._reply(c, {"error": "container process has exited", "kind": "not_running"},
                        proto.ERROR)  # fmt: skip
        else:
            self.released = True
            self.state["started_at"] = rfc3339_nano()
            self.pending_starts.append(c)
            try:
                self.ctl.send(b"G")
            except OSError:  # it died before its release; the pidfd will tell
                self.pending_starts.remove(c)
                self._reply(c, {"error": "container process has exited", "kind": "not_running"},
                            proto.ERROR)  # fmt: skip

    def _signal(self, c: Client, sig: int) -> None:
        if self.exited:
            self._reply(c, {"error": "container process has exited", "kind": "not_running"},
                        proto.ERROR)  # fmt: skip
            return
        try:
            _signal.pidfd_send_signal(self.pidfd, sig)
        except ProcessLookupError:
            self._reply(c, {"error": "container process has exited", "kind": "not_running"},
                        proto.ERROR)  # fmt: skip
            return
        except OSError as exc:
            self._reply(c, {"error": f"signal {sig}: {exc.strerror}", "kind": "system"},
                        proto.ERROR)  # fmt: skip
            return
        self._reply(c, {})

    def _reply(self, c: Client, doc: dict[str, Any], kind: bytes = proto.OK) -> None:
        self._send(c, proto.frame(kind, jsonlite.dumps(doc).encode()))

    def _send(self, c: Client, data: bytes) -> None:
        was_empty = not c.wbuf
        c.wbuf += data
        if was_empty:
            self._flush(c)

    def _flush(self, c: Client) -> None:
        try:
            n = c.sock.send(c.wbuf)
        except BlockingIOError:
            return
        except OSError:
            self._drop(c)
            return
        del c.wbuf[:n]
        if c.closing and not c.wbuf:
            self._drop(c)

    def _drop(self, c: Client) -> None:
        fd = c.sock.fileno()
        if self.clients.pop(fd, None) is not None:
            c.sock.close()
        if c in self.pending_starts:
            self.pending_starts.remove(c)

    # ---- the end

    def _finish(self) -> None:
        """Flush the log, say END to attached clients, deliver what is queued, close."""
        for fd in list(self.outputs):
            os.close(fd)
        self.outputs.clear()
        self.log.close()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
            try:
                os.unlink(self.dir + "/shim.sock")
            except OSError:
                pass
        end = proto.frame(proto.END, jsonlite.dumps(self.state).encode())
        for c in list(self.clients.values()):
            c.closing = True
            if c.attached:
                c.wbuf += end
            self._flush(c)
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while self.clients and time.monotonic() < deadline:
            poller = select.poll()
            for fd, c in self.clients.items():
                poller.register(fd, select.POLLOUT if c.wbuf else select.POLLIN)
            for fd, _ev in poller.poll(int((deadline - time.monotonic()) * 1000) + 1):
                client = self.clients.get(fd)
                if client is not None:
                    if client.wbuf:
                        self._flush(client)
                    else:
                        self._drop(client)
        for c in list(self.clients.values()):
            self._drop(c)
