"""`shoal run -it` in a real pseudo-terminal: raw mode, resize, restore, signal proxying."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time

from tests.cli.fakedaemon import FakeDaemon, Request

SHOAL = [sys.executable, "-c", "from shoal.cli.main import main; main()"]


def _read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    buf = b""
    deadline = time.time() + timeout
    while needle not in buf and time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    assert needle in buf, f"{needle!r} not in {buf!r}"
    return buf


def _tty_echo_attach(daemon: FakeDaemon, req: Request) -> None:
    """A tty container that echoes each byte as <b> and exits 5 on 'q'."""
    c = daemon.find(req.match.group(1))
    assert c is not None
    c.attached = True
    req.conn.upgrade("application/vnd.docker.raw-stream")
    c.started.wait(5)
    sock = req.conn.sock
    while True:
        data = sock.recv(100)
        if not data or b"q" in data:
            break
        sock.sendall(b"<" + data + b">")
    c.exit_code = 5
    daemon._exit(c)
    sock.close()


def test_run_it_raw_mode_resize_and_exit_code(daemon):
    daemon.route("POST", r"/containers/([^/]+)/attach", _tty_echo_attach)
    pid, fd = os.forkpty()
    if pid == 0:
        os.environ["SHOAL_HOST"] = daemon.host
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        os.execv(sys.executable, [*SHOAL, "run", "-it", "--rm", "busybox", "sh"])
    try:
        deadline = time.time() + 10
        while not any(r.path.endswith("/resize") for r in daemon.requests):
            assert time.time() < deadline, daemon.requests
            time.sleep(0.02)
        resize = next(r for r in daemon.requests if r.path.endswith("/resize"))
        assert resize.query == {"h": ["30"], "w": ["100"]}
        create = daemon.requests[0].json()
        assert create["Tty"] and create["OpenStdin"] and create["AttachStdin"]
        assert create["HostConfig"]["ConsoleSize"] == [30, 100]
        os.write(fd, b"a")  # raw mode: no newline needed for the byte to go out
        _read_until(fd, b"<a>")
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.kill(pid, signal.SIGWINCH)
        deadline = time.time() + 10
        while not any(r.query.get("h") == ["40"] for r in daemon.requests):
            assert time.time() < deadline
            time.sleep(0.02)
        os.write(fd, b"q")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 5
        attrs = termios.tcgetattr(fd)
        assert attrs[3] & termios.ICANON and attrs[3] & termios.ECHO  # restored
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_sig_proxy_forwards_sigint(daemon):
    env = {**os.environ, "SHOAL_HOST": daemon.host}
    p = subprocess.Popen([*SHOAL, "run", "busybox", "sleep"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 10
        while not any(r.path.endswith("/start") for r in daemon.requests):
            assert time.time() < deadline
            time.sleep(0.02)
        time.sleep(0.1)
        p.send_signal(signal.SIGINT)
        assert p.wait(10) == 130
        kill = next(r for r in daemon.requests if r.path.endswith("/kill"))
        assert kill.query == {"signal": ["INT"]}
    finally:
        p.kill()
        p.communicate()
