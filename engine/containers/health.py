"""Health checks (Docker's HEALTHCHECK): probe a running container, keep its health state.

A probe is an exec in the container (CMD or CMD-SHELL), with a timeout; its
result feeds State.Health {Status starting|healthy|unhealthy, FailingStreak,
Log (last 5 probes)}. Failures during the start period do not count, but a
success there ends it. Like Docker, the engine only reports health; acting
on it (replacing the task) is the orchestrator's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from collections.abc import Callable
from typing import Any

from shoal.engine.containers.model import Container, now_rfc3339
from shoal.engine.errors import EngineError
from shoal.engine.runtime.spec import Process

log = logging.getLogger(__name__)

NS = 1_000_000_000
DEFAULT_INTERVAL = 30 * NS
DEFAULT_TIMEOUT = 30 * NS
DEFAULT_RETRIES = 3
MAX_LOG = 5
MAX_OUTPUT = 4096


def probe_args(test: list[str] | None) -> list[str] | None:
    """Return the argv of a Healthcheck.Test, or None when there is no check."""
    if not test or test[0] == "NONE":
        return None
    kind, rest = test[0], test[1:]
    if kind == "CMD":
        return rest or None
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(rest)] if rest else None
    if kind == "INHERIT":
        return None
    return test  # a bare command list, as older clients send


def merge(image: dict[str, Any] | None, given: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return a container's Healthcheck: the request's fields over the image's (Docker's merge).

    `--health-interval 5s` alone keeps the image's test; `Test ["NONE"]` disables it.
    """
    if not given:
        return dict(image) if image else None
    out = dict(given)
    for key, value in (image or {}).items():
        if not out.get(key):
            out[key] = value
    return out


def effective(hc: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the healthcheck with Docker's defaults filled in, or None."""
    if not hc or probe_args(hc.get("Test")) is None:
        return None
    return {
        "Test": hc["Test"],
        "Interval": hc.get("Interval") or DEFAULT_INTERVAL,
        "Timeout": hc.get("Timeout") or DEFAULT_TIMEOUT,
        "StartPeriod": hc.get("StartPeriod") or 0,
        "StartInterval": hc.get("StartInterval") or 5 * NS,
        "Retries": hc.get("Retries") or DEFAULT_RETRIES,
    }


class HealthMonitor:
    """Probe one container until it stops; write State.Health through SAVE."""

    def __init__(self, c: Container, runtime: Any, make_process: Callable[[list[str]], Process],
                 save: Callable[[Container], None]) -> None:
        self.c = c
        self.runtime = runtime
        self.make_process = make_process
        self.save = save
        self.cfg = effective(c.Config.get("Healthcheck"))
        self.task: asyncio.Task[None] | None = None
        self.stopped = False

    def start(self) -> None:
        if self.cfg is None:
            self.c.State.Health = None
            return
        self.c.State.Health = {"Status": "starting", "FailingStreak": 0, "Log": []}
        self.task = asyncio.create_task(self._loop(), name=f"health-{self.c.Id[:12]}")

    async def stop(self) -> None:
        """Stop probing; return once no probe runs.

        The flag ends the loop even if a cancel is lost: Python 3.11's
        asyncio.wait_for may swallow a cancellation that races with its
        inner future, and a probe loop left running kept the container's
        exit from ever being recorded (`stop` hung).
        """
        self.stopped = True
        task, self.task = self.task, None
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.warning("health check of %s failed: %s", self.c.Id[:12], task.exception())

    async def _loop(self) -> None:
        assert self.cfg is not None
        started = asyncio.get_running_loop().time()
        while self.c.running and not self.stopped:
            in_start = (asyncio.get_running_loop().time() - started) * NS < self.cfg["StartPeriod"]
            health = self.c.State.Health or {}
            wait = self.cfg["StartInterval"] if in_start and health.get("Status") == "starting" \
                else self.cfg["Interval"]
            await asyncio.sleep(wait / NS)
            if not self.c.running or self.stopped:
                return
            code, output, begin = await self._probe()
            if self.stopped:
                return  # the container is going: its last probe says nothing
            self._record(code, output, begin, in_start)

    async def _probe(self) -> tuple[int, str, str]:
        assert self.cfg is not None
        begin = now_rfc3339()
        args = probe_args(self.cfg["Test"])
        assert args is not None
        eid = "health-" + secrets.token_hex(16)
        chunks: list[bytes] = []
        try:
            await self.runtime.exec_create(self.c.Id, eid, self.make_process(args))
            stream = await self.runtime.attach(eid)
            await self.runtime.start(eid)

            async def collect() -> None:
                while (item := await stream.read()) is not None:
                    if sum(map(len, chunks)) < MAX_OUTPUT:
                        chunks.append(item[1])

            try:
                await asyncio.wait_for(collect(), self.cfg["Timeout"] / NS)
                st = await self.runtime.wait(eid)
                code = st.exit_code if st.exit_code is not None else -1
            except TimeoutError:
                with contextlib.suppress(EngineError):
                    await self.runtime.kill(eid, signal.SIGKILL)
                code, chunks[:] = -1, [b"Health check exceeded timeout (%ds)"
                                      % (self.cfg["Timeout"] // NS)]
            finally:
                with contextlib.suppress(Exception):
                    await stream.close()
        except EngineError as exc:
            code, chunks[:] = -1, [str(exc).encode()]
        finally:
            with contextlib.suppress(EngineError):
                await self.runtime.delete(eid, force=True)
        return code, b"".join(chunks)[:MAX_OUTPUT].decode(errors="replace"), begin

    def _record(self, code: int, output: str, begin: str, in_start: bool) -> None:
        assert self.cfg is not None
        h = self.c.State.Health or {"Status": "starting", "FailingStreak": 0, "Log": []}
        h["Log"] = [*h["Log"], {"Start": begin, "End": now_rfc3339(), "ExitCode": code,
                                "Output": output}][-MAX_LOG:]
        if code == 0:
            h["Status"], h["FailingStreak"] = "healthy", 0
        elif not (in_start and h["Status"] == "starting"):
            h["FailingStreak"] += 1
            if h["FailingStreak"] >= self.cfg["Retries"]:
                h["Status"] = "unhealthy"
        self.c.State.Health = h
        if self.c.running:
            self.save(self.c)
