"""Write a container's output as Docker json-file lines.

One line per output line:
``{"log":"text\\n","stream":"stdout","time":"2026-11-28T05:33:01.123456789Z"}``.
A line longer than 16 KiB is split (Docker's partial messages), and the
unfinished last line is written when the stream ends. With ``max_size`` the
file is rotated once to ``<path>.1``. Stdlib only (runs inside the shim).
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING or __package__:
    from .jsonlite import encode_string
else:
    from jsonlite import encode_string

MAX_LINE = 16 * 1024
_STREAMS = {1: "stdout", 2: "stderr"}


def rfc3339_nano(ns: int | None = None) -> str:
    """Format NS (default: now) as RFC 3339 UTC with nanoseconds, like Go's time.RFC3339Nano."""
    if ns is None:
        ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


class JsonLog:
    """Append json-file lines for the stdout (1) and stderr (2) streams to PATH."""

    def __init__(self, path: str, max_size: int = 0) -> None:
        self.path = path
        self.max_size = max_size
        self._pending = {1: b"", 2: b""}
        self._fd = -1
        self._size = 0
        if path:
            self._open()

    def _open(self) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o640)
        self._size = os.fstat(self._fd).st_size

    def write(self, stream: int, data: bytes) -> None:
        """Log DATA read from STREAM; only complete lines are written now."""
        if self._fd < 0:
            return
        buf = self._pending[stream] + data
        lines = buf.split(b"\n")
        rest = lines.pop()
        out = [ln + b"\n" for ln in lines]
        while len(rest) > MAX_LINE:
            out.append(rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        self._pending[stream] = rest
        if out:
            self._emit(stream, out)

    def flush(self) -> None:
        """Write the unfinished lines of both streams."""
        for stream, rest in self._pending.items():
            if rest:
                self._pending[stream] = b""
                self._emit(stream, [rest])

    def close(self) -> None:
        """Flush and close the file."""
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1

    def _emit(self, stream: int, chunks: list[bytes]) -> None:
        tail = f',"stream":"{_STREAMS[stream]}","time":"{rfc3339_nano()}"}}\n'
        text = "".join(
            '{"log":' + encode_string(c.decode("utf-8", "replace")) + tail for c in chunks
        ).encode()
        os.write(self._fd, text)
        self._size += len(text)
        if self.max_size and self._size >= self.max_size:
            os.close(self._fd)
            os.replace(self.path, self.path + ".1")
            self._open()
