"""`shoal run -it IMAGE /bin/sh` works in a terminal: a real pty, with resize."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import termios
import time

import pytest

from tests.daemon import BIN

pytestmark = pytest.mark.root


def _read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    buf = b""
    deadline = time.time() + timeout
    while needle not in buf and time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
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


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def test_interactive_shell_with_resize(clean):
    pid, fd = os.forkpty()
    if pid == 0:  # the child: the user's terminal runs `shoal run -it`
        os.environ["SHOAL_HOST"] = clean.host
        os.execv(str(BIN / "shoal"), ["shoal", "run", "-it", "--rm", "busybox", "/bin/sh"])
    try:
        _set_size(fd, 30, 100)
        os.kill(pid, signal.SIGWINCH)
        os.write(fd, b"echo $((6*7)); tty\n")
        out = _read_until(fd, b"/dev/pts/0")
        assert b"42" in out
        os.write(fd, b"stty size\n")
        _read_until(fd, b"30 100")
        _set_size(fd, 40, 120)
        os.kill(pid, signal.SIGWINCH)
        time.sleep(0.3)
        os.write(fd, b"stty size\n")
        _read_until(fd, b"40 120")
        os.write(fd, b"exit 5\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 5
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_exec_it(clean):
    cid = clean.cli("run", "-d", "-h", "ttyhost", "busybox", "sleep", "100").stdout.strip()
    pid, fd = os.forkpty()
    if pid == 0:
        os.environ["SHOAL_HOST"] = clean.host
        os.execv(str(BIN / "shoal"), ["shoal", "exec", "-it", cid, "/bin/sh"])
    try:
        os.write(fd, b"hostname; tty\n")
        out = _read_until(fd, b"/dev/pts/")
        assert b"ttyhost" in out
        os.write(fd, b"exit 0\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
        clean.cli("rm", "-f", cid)
