"""Move bytes between the terminal and a container: demux, raw mode, stdin, resize, signals.

Docker's multiplexed stream (logs, attach and exec without a tty) is a
sequence of frames: an 8-byte header ``[stream, 0, 0, 0, size (big-endian
uint32)]`` then ``size`` bytes of payload; stream 0 is stdin (written to
stdout), 1 stdout, 2 stderr, 3 an error from the daemon. With a tty the
stream is raw bytes. A thread pumps local stdin into a hijacked connection
and half-closes it (SHUT_WR) at end of input, as docker does.
"""

from __future__ import annotations

import os
import sys

from .errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, BinaryIO

    from .client import Hijacked

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3
FORWARDED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def frame(stream: int, payload: bytes) -> bytes:
    """Return one multiplexed frame (used by tests and fakes)."""
    return bytes((stream, 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload


class Demuxer:
    """Split a multiplexed byte stream into (stream, payload) pieces as bytes arrive.

    Payloads are passed on as soon as any of their bytes arrive, so output is
    not delayed until a whole frame is in.
    """

    def __init__(self) -> None:
        self.head = bytearray()
        self.stream = STDOUT
        self.left = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Return the pieces that the given bytes complete or continue."""
        out: list[tuple[int, bytes]] = []
        pos, n = 0, len(data)
        while pos < n:
            if self.left == 0:
                need = 8 - len(self.head)
                self.head += data[pos:pos + need]
                pos += need
                if len(self.head) < 8:
                    break
                self.stream = self.head[0]
                self.left = int.from_bytes(self.head[4:8], "big")
                self.head.clear()
                if self.stream not in (STDIN, STDOUT, STDERR, SYSTEMERR):
                    raise CLIError(f"Unrecognized input header: {self.stream}")
                continue
            take = min(self.left, n - pos)
            out.append((self.stream, data[pos:pos + take]))
            pos += take
            self.left -= take
        return out

    @property
    def partial(self) -> bool:
        """Tell whether the stream stopped inside a frame."""
        return bool(self.head) or self.left > 0


class Output:
    """Write container output to the local stdout and stderr, flushing as it goes."""

    def __init__(self, out: BinaryIO | None = None, err: BinaryIO | None = None) -> None:
        self.out = out if out is not None else sys.stdout.buffer
        self.err = err if err is not None else sys.stderr.buffer

    def write(self, stream: int, data: bytes) -> None:
        """Write a piece to the file its stream goes to."""
        f = self.err if stream == STDERR else self.out
        f.write(data)
        f.flush()


def copy_output(chunks: Iterable[bytes], tty: bool, output: Output) -> None:
    """Copy a raw (tty) or multiplexed stream to the output until it ends."""
    if tty:
        for data in chunks:
            output.write(STDOUT, data)
        return
    demux = Demuxer()
    errors: list[bytes] = []
    for data in chunks:
        for stream, piece in demux.feed(data):
            if stream == SYSTEMERR:
                errors.append(piece)
            else:
                output.write(stream, piece)
    if errors:
        message = b"".join(errors).decode("utf-8", "replace")
        raise CLIError("error from daemon in stream: " + message)


def _recv_all(hj: Hijacked) -> Iterable[bytes]:
    while True:
        data = hj.recv()
        if not data:
            return
        yield data


DEFAULT_ESCAPE = b"\x10\x11"  # ctrl-p ctrl-q


def parse_detach_keys(value: str) -> bytes:
    """Return the bytes of a detach sequence such as ``ctrl-p,ctrl-q`` or ``a,ctrl-@``."""
    out = bytearray()
    for key in value.split(","):
        k = key.strip().lower()
        if len(k) == 1:
            out.append(ord(k))
        elif k.startswith("ctrl-") and len(k) == 6 and (k[5].isalpha() or k[5] in "@[\\]^_"):
            out.append(ord(k[5].upper()) & 0x1F)
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(out)


class Session:
    """State shared by the output loop and the stdin thread of one attach/exec."""

    def __init__(self, hj: Hijacked) -> None:
        self.hj = hj
        self.detached = False

    def detach(self) -> None:
        """Leave the container running: stop both directions of the stream now."""
        import socket

        self.detached = True
        try:
            self.hj.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def start_stdin_pump(session: Session, fd: int, escape: bytes | None = None) -> Any:
    """Copy local stdin (fd) to the stream in a thread; half-close the stream at EOF.

    With ``escape`` (tty mode), typing that key sequence detaches instead of
    being sent, like docker's ctrl-p ctrl-q.
    """
    import threading

    hj = session.hj

    def pump() -> None:
        matched = 0
        try:
            while True:
                data = os.read(fd, 32768)
                if not data:
                    break
                if escape:
                    out = bytearray()
                    for b in data:
                        if b == escape[matched]:
                            matched += 1
                            if matched == len(escape):
                                if out:
                                    hj.sendall(bytes(out))
                                session.detach()
                                return
                            continue
                        if matched:
                            out += escape[:matched]
                            matched = 0
                            if b == escape[0]:
                                matched = 1
                                continue
                        out.append(b)
                    data = bytes(out)
                    if not data:
                        continue
                hj.sendall(data)
        except OSError:
            pass
        hj.close_write()

    t = threading.Thread(target=pump, name="stdin", daemon=True)
    t.start()
    return t


def stream_session(hj: Hijacked, tty: bool, stdin_fd: int | None, output: Output,
                   on_output_end: Callable[[], None] | None = None,
                   escape: bytes | None = None) -> Session:
    """Run an attach/exec session: stdin in a thread, output here until the daemon closes."""
    session = Session(hj)
    if stdin_fd is not None:
        start_stdin_pump(session, stdin_fd, escape if tty else None)
    try:
        copy_output(_recv_all(hj), tty, output)
    finally:
        if on_output_end is not None:
            on_output_end()
        hj.close()
    return session


class RawTerminal:
    """Put a terminal in raw mode (like moby/term MakeRaw) and restore it on exit."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list[Any] | None = None

    def __enter__(self) -> RawTerminal:
        import termios
        import tty

        self.saved = termios.tcgetattr(self.fd)
        tty.setraw(self.fd, termios.TCSANOW)
        return self

    def restore(self) -> None:
        """Restore the saved terminal settings (idempotent)."""
        if self.saved is not None:
            import termios

            try:
                termios.tcsetattr(self.fd, termios.TCSANOW, self.saved)
            except termios.error:
                pass
            self.saved = None

    def __exit__(self, *exc: object) -> None:
        self.restore()


def isatty(fd: int) -> bool:
    """Tell whether fd is a terminal (False when it is closed)."""
    try:
        return os.isatty(fd)
    except OSError:
        return False


def terminal_size(fd: int) -> tuple[int, int] | None:
    """Return (height, width) of the terminal at fd, or None."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


def monitor_tty_size(resize: Callable[[int, int], object], fd: int) -> None:
    """Send the terminal size now (retrying briefly, as docker does) and on every SIGWINCH."""
    import signal
    import time

    def send() -> bool:
        size = terminal_size(fd)
        if size is None:
            return True
        try:
            resize(*size)
        except CLIError:
            return False
        return True

    for attempt in range(10):
        if send():
            break
        time.sleep(0.01 * (attempt + 1))
    signal.signal(signal.SIGWINCH, lambda _sig, _frame: send() and None)


def forward_signals(kill: Callable[[str], object]) -> Callable[[], None]:
    """Forward the usual termination signals to the container; return an undo function."""
    import signal

    def handler(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        try:
            kill(name[3:])
        except CLIError:
            pass

    saved = {}
    for name in FORWARDED_SIGNALS:
        sig = getattr(signal, name)
        saved[sig] = signal.signal(sig, handler)

    def undo() -> None:
        for sig, old in saved.items():
            signal.signal(sig, old)

    return undo
