"""Bridge a hijacked client connection and a runtime attach stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from shoal.engine.api.hijack import Hijacked
from shoal.engine.api.streams import encode


async def pump(
    conn: Hijacked,
    stream: Any,
    *,
    tty: bool,
    stdin: bool,
    stdout: bool = True,
    stderr: bool = True,
    close_stdin_on_eof: bool = True,
    before_close: Callable[[], Awaitable[Any]] | None = None,
) -> None:
    """Copy output to the client and the client's bytes to stdin until the process ends.

    A half-close by the client closes the process's stdin (when asked to); a
    full disconnect detaches the client and leaves the process running.
    """

    async def output() -> None:
        while (item := await stream.read()) is not None:
            fd, data = item
            if (fd == 2 and stderr) or (fd != 2 and stdout):
                await conn.write(encode(fd, data, tty))

    async def client() -> None:
        while data := await conn.read():
            if stdin:
                await stream.write(data)
        if stdin and close_stdin_on_eof and not conn.closed:
            await stream.close_stdin()
        if conn.closed:
            out_task.cancel()  # the client went away: detach
            return
        await asyncio.Event().wait()  # half-closed: keep sending output

    out_task = asyncio.create_task(output())
    in_task = asyncio.create_task(client())
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await out_task
    finally:
        in_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await in_task
        with contextlib.suppress(Exception):
            await stream.close()
        if before_close is not None:
            with contextlib.suppress(Exception):
                await before_close()
        conn.close()
