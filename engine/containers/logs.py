"""Read a container's json-file log (written by its shim): tail, since/until, follow."""

from __future__ import annotations

import asyncio
import json
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from shoal.engine.containers.views import parse_time

STDOUT, STDERR = 1, 2
_FOLLOW_POLL = 0.05


@dataclass
class LogOptions:
    """Which lines to return (the query of `GET /containers/{id}/logs`)."""

    stdout: bool = True
    stderr: bool = True
    follow: bool = False
    timestamps: bool = False
    tail: int | None = None  # None: all
    since: float = 0.0
    until: float = 0.0


@dataclass
class LogLine:
    stream: int
    data: bytes


def _decode(raw: bytes, opts: LogOptions) -> LogLine | None:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None  # a partial line being written; the caller retries it
    stream = STDERR if entry.get("stream") == "stderr" else STDOUT
    if (stream == STDOUT and not opts.stdout) or (stream == STDERR and not opts.stderr):
        return LogLine(0, b"")
    ts = entry.get("time", "")
    if opts.since or opts.until:
        t = parse_time(ts)
        if (opts.since and t < opts.since) or (opts.until and t > opts.until):
            return LogLine(0, b"")
    data = entry.get("log", "").encode()
    if opts.timestamps:
        data = ts.encode() + b" " + data
    return LogLine(stream, data)


def _read_existing(path: str, opts: LogOptions) -> tuple[list[LogLine], int]:
    """Return the lines already in the file (after tail) and the offset read up to."""
    try:
        with open(path, "rb") as f:
            content = f.read()
    except FileNotFoundError:
        return [], 0
    end = content.rfind(b"\n") + 1
    lines: deque[LogLine] | list[LogLine]
    lines = deque(maxlen=opts.tail) if opts.tail is not None else []
    if opts.tail == 0:
        return [], end
    for raw in content[:end].splitlines():
        line = _decode(raw, opts)
        if line is not None and line.stream:
            lines.append(line)
    return list(lines), end


async def read_logs(
    path: str, opts: LogOptions, is_running: Callable[[], bool]
) -> AsyncIterator[LogLine]:
    """Yield the log's lines; with opts.follow, keep yielding until the container stops."""
    lines, offset = await asyncio.to_thread(_read_existing, path, opts)
    for line in lines:
        yield line
    if not opts.follow:
        return
    pending = b""
    f = None
    try:
        while True:
            running = is_running()
            if f is None:
                # Hold the file open: a container removed right after it exits (as the
                # Docker SDK's `run(remove=True)` does) must not cut the stream short.
                try:
                    f = open(path, "rb")
                    f.seek(offset)
                except FileNotFoundError:
                    f = None
            chunk = f.read() if f is not None else b""
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                decoded = _decode(raw, opts)
                if decoded is not None and decoded.stream:
                    yield decoded
            if not running and not chunk:
                return
            if not chunk:
                await asyncio.sleep(_FOLLOW_POLL)
    finally:
        if f is not None:
            f.close()


def log_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
