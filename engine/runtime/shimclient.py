"""Talk to a shim over its socket from the daemon (asyncio): requests and attach streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import Conflict, NotRunning
from . import protocol as proto
from .errors import ExecNotFound, ExecPermission, ShimUnavailable, StartFailed
from .shimloop import socket_address


class ShimGone(Exception):
    """The shim's socket is gone or refuses connections: the shim has exited."""


_ERRORS: dict[str, type[Exception]] = {
    "not_found": ExecNotFound,
    "permission": ExecPermission,
    "conflict": Conflict,
    "not_running": NotRunning,
    "system": StartFailed,
}


def error_from(doc: dict[str, Any]) -> Exception:
    """Turn a shim's ERROR payload (or failed ready line) into an engine error."""
    cls = _ERRORS.get(doc.get("kind", "system"), StartFailed)
    return cls(doc.get("error") or "unknown shim error")


async def connect(state_dir: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the shim of STATE_DIR; raise ShimGone if nothing listens there."""
    dirfd = -1
    try:
        dirfd = os.open(state_dir, os.O_PATH | os.O_CLOEXEC)
        return await asyncio.open_unix_connection(socket_address(str(state_dir), dirfd))
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ShimGone(str(exc)) from exc
    finally:
        if dirfd >= 0:
            os.close(dirfd)


async def read_frame(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """Read one frame; None at EOF."""
    try:
        kind, size = proto.parse_header(await reader.readexactly(proto.HEADER_SIZE))
        return kind, await reader.readexactly(size) if size else b""
    except (asyncio.IncompleteReadError, ConnectionResetError):
        return None


async def request(
    state_dir: Path, kind: bytes, doc: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Send one request to the shim; return its OK document, raise its ERROR as an engine error."""
    reader, writer = await connect(state_dir)
    try:
        payload = b"" if doc is None else json.dumps(doc).encode()
        writer.write(proto.frame(kind, payload))
        got = await read_frame(reader)
    finally:
        writer.close()
    if got is None:
        raise ShimGone("the shim closed the connection")
    answer: dict[str, Any] = json.loads(got[1] or b"{}")
    if got[0] == proto.ERROR:
        raise error_from(answer)
    if got[0] != proto.OK:
        raise ShimUnavailable(f"unexpected answer {got[0]!r} from the shim")
    return answer


class AttachStream:
    """The output (and optionally the stdin) of a process, through its shim.

    ``read()`` returns (1, data) for stdout, (2, data) for stderr, and None once
    the process has exited and all its output was delivered (``final_state``
    then holds its state.json document) or the shim went away.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.final_state: dict[str, Any] | None = None

    async def read(self) -> tuple[int, bytes] | None:
        """Return the next chunk of output as (stream, data), or None at the end."""
        while True:
            got = await read_frame(self._reader)
            if got is None:
                return None
            kind, payload = got
            if kind == proto.STDOUT:
                return 1, payload
            if kind == proto.STDERR:
                return 2, payload
            if kind == proto.END:
                self.final_state = json.loads(payload or b"{}")
                return None

    async def write(self, data: bytes) -> None:
        """Send DATA to the process's stdin."""
        view = memoryview(data)
        for i in range(0, len(view), proto.MAX_PAYLOAD):
            self._writer.write(proto.frame(proto.STDIN, bytes(view[i : i + proto.MAX_PAYLOAD])))
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()

    async def close_stdin(self) -> None:
        """Close the process's stdin (it reads EOF once what was written is consumed)."""
        self._writer.write(proto.frame(proto.STDIN_CLOSE))
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()

    async def close(self) -> None:
        """Detach (the process keeps running)."""
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    async def __aenter__(self) -> AttachStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def attach(state_dir: Path, stdin: bool) -> AttachStream:
    """Attach to the shim of STATE_DIR: its output from now on, and its stdin if STDIN."""
    reader, writer = await connect(state_dir)
    writer.write(proto.frame(proto.ATTACH, json.dumps({"stdin": stdin}).encode()))
    got = await read_frame(reader)
    if got is None or got[0] != proto.OK:
        writer.close()
        raise ShimGone("the shim refused the attach")
    return AttachStream(reader, writer)
