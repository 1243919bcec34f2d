"""Start shims for the daemon, from a warm spare when one is waiting.

A shim spends ~10 ms starting Python and importing its modules before it can
do anything for its container. After each launch the launcher starts a
*spare* (``shim.py --spare``) that gets that far, detaches, and waits on a
pipe for the state dir of the next job; the next create hands it over and
skips those 10 ms. A spare left without a job exits after a few seconds
(shimsetup.SPARE_IDLE), at once when the launcher closes its pipe, or when
the daemon dies.

Ready protocol on the shim's fd 3: a spare writes "+" when it takes a job
(EOF before that means it did not, and the job goes to a fresh shim), then
every shim writes one JSON line: {"ok": true, "pid", "shim_pid"} or
{"ok": false, "error", "kind"}.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from .errors import StartFailed
from .shimclient import error_from

SHIM = Path(__file__).resolve().parent / "shim.py"
_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def _high(fd: int) -> int:
    """Move FD above the fds the shim gets (0-4), so that the dup2s cannot clobber it."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class _Spare:
    """A started spare shim: its process group, its ready pipe and its job pipe."""

    def __init__(self, pgid: int, ready: int, job: int) -> None:
        self.pgid, self.ready, self.job = pgid, ready, job

    def close(self) -> None:
        for fd in (self.job, self.ready):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.job = self.ready = -1

    def __del__(self) -> None:
        if self.job >= 0:
            self.close()


class ShimLauncher:
    """Launch shims and wait for their ready line."""

    def __init__(self, spare: bool = True, timeout: float = 60.0) -> None:
        self.use_spare = spare
        self.timeout = timeout
        self._spare: _Spare | None = None

    def close(self) -> None:
        """Let the waiting spare, if any, exit."""
        if self._spare is not None:
            self._spare.close()
            self._spare = None

    async def launch(self, state_dir: Path) -> dict[str, Any]:
        """Start the shim of STATE_DIR; return its ready document or raise its error."""
        line = b""
        spare, self._spare = self._spare, None
        if spare is not None:
            try:
                os.write(spare.job, f"{state_dir}\n".encode())
            except OSError:  # it timed out and exited
                spare.close()
                spare = None
        if spare is not None:
            os.close(spare.job)
            spare.job = -1
            line = await self._ready(spare.ready, spare.pgid)
            if not line.startswith(b"+"):
                spare = None  # it exited without taking the job
            line = line[1:]
        if spare is None:
            ready_r, ready_w = os.pipe()
            pgid = self._spawn([str(state_dir)], state_dir / "shim.log", {3: ready_w})
            line = await self._ready(ready_r, pgid)
        if self.use_spare:
            self._spare = self._start_spare()
        if not line:
            log = (state_dir / "shim.log").read_text(errors="replace").strip().splitlines()
            raise StartFailed("shim failed to start" + (f": {log[-1]}" if log else ""))
        doc: dict[str, Any] = json.loads(line)
        if not doc.get("ok"):
            raise error_from(doc)
        return doc

    def _start_spare(self) -> _Spare | None:
        ready_r, ready_w = os.pipe()
        job_r, job_w = os.pipe()
        try:
            pgid = self._spawn(["--spare"], Path("/dev/null"), {3: ready_w, 4: job_r})
        except OSError:
            os.close(ready_r)
            os.close(job_w)
            return None
        os.set_blocking(ready_r, False)
        return _Spare(pgid, ready_r, job_w)

    def _spawn(self, args: list[str], log: Path, fds: dict[int, int]) -> int:
        """posix_spawn the shim with FDS installed (and closed here); return its pid (= pgid)."""
        fds = {target: _high(fd) for target, fd in fds.items()}
        actions: list[tuple[Any, ...]] = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, str(log), os.O_WRONLY | os.O_CREAT, 0o600),
        ]
        actions += [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in fds.items()]
        try:
            argv = [sys.executable, "-S", "-E", str(SHIM), *args]
            pid = os.posix_spawn(sys.executable, argv, _ENV, file_actions=actions, setsid=True)
        finally:
            for fd in fds.values():
                os.close(fd)
        _reap_soon(pid)  # the shim's first fork: it exits as soon as it has forked
        return pid

    async def _ready(self, fd: int, pgid: int) -> bytes:
        os.set_blocking(fd, False)
        try:
            return await asyncio.wait_for(_read_line(fd), self.timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)  # the shim stays in this process group
            raise
        finally:
            os.close(fd)


async def _read_line(fd: int) -> bytes:
    """Read from non-blocking FD until a newline or EOF."""
    loop = asyncio.get_running_loop()
    buf = bytearray()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return
        buf.extend(chunk)
        if (not chunk or b"\n" in chunk) and not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
    return bytes(buf).split(b"\n", 1)[0]


async def wait_exit(pid: int) -> None:
    """Wait until PID exits (it need not be our child: a pidfd), and reap it if it is."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def exited() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, exited)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    reap(pid)


def reap(pid: int) -> bool:
    """Collect PID if it is our child and has exited; return False if it still runs."""
    try:
        return os.waitpid(pid, os.WNOHANG) != (0, 0)
    except ChildProcessError:
        return True


def _reap_soon(pid: int) -> None:
    """Collect our child PID now, or from a thread once it exits (no event loop needed)."""
    if not reap(pid):
        threading.Thread(target=_waitpid, args=(pid,), name=f"reap-{pid}", daemon=True).start()


def _waitpid(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
