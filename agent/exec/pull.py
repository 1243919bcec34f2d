"""Image pulls for the node's tasks: what to look for and pull, shared pulls, progress.

A task's image is `NAME:TAG@DIGEST` once the manager pinned it to a digest
(docs/cluster.md, "Images from registries"), else `NAME[:TAG]` or an image id.
The controller's prepare step calls `ImagePuller.ensure`: an image already in
the engine's store (by digest when pinned, else by name) is used as is;
otherwise it is pulled through the engine's registry service with the
credentials the service was given (`pull_options.registry_auth`). Tasks that
need the same image with the same credentials at the same time share one
pull, and each of them sees its progress, summed over the layers and given
at most every INTERVAL seconds ("pulling 12/40 MB"). A pinned image is pulled
by digest and then tagged `NAME:TAG`, so `images` on the node shows both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from shoal.agent.exec.errors import TaskRejected
from shoal.engine.errors import EngineError, NotFound
from shoal.engine.images import digest as dg
from shoal.engine.images import reference as refmod
from shoal.engine.images.errors import InvalidReference
from shoal.engine.images.registry import credentials as credmod
from shoal.engine.images.registry.credentials import Credentials

log = logging.getLogger(__name__)

INTERVAL = 0.5  # seconds between two progress reports of one pull (at most 2/s)
Progress = Callable[[str], None]
_UNITS = ((10**9, "GB"), (10**6, "MB"), (10**3, "kB"))


@dataclass(frozen=True)
class PullTarget:
    """What prepare looks for (`lookup`), pulls (`pull`, "" for an image id) and tags."""

    image: str
    lookup: str
    pull: str = ""
    tag: str = ""


def target_of(image: str) -> PullTarget:
    """Return the lookup, pull and tag references of a task's IMAGE.

    Raise TaskRejected for a reference that is not one.
    """
    if dg.is_digest(image) or dg.is_hex64(image):
        return PullTarget(image, image)
    try:
        ref = refmod.parse(image)
    except InvalidReference as exc:
        raise TaskRejected(f"invalid image reference {image!r}: {exc}") from exc
    if ref.digest is None:
        return PullTarget(image, str(ref), str(ref))
    by_digest = str(ref.with_digest(ref.digest))
    tag = str(replace(ref, digest=None)) if ref.tag is not None else ""
    return PullTarget(image, by_digest, by_digest, tag)


def credentials_of(registry_auth: str) -> Credentials:
    """Decode a task's pull_options.registry_auth; raise TaskRejected when it is garbage."""
    try:
        return credmod.from_header(registry_auth)
    except EngineError as exc:
        raise TaskRejected(f"invalid registry credentials in the service: {exc}") from exc


def sizes(current: int, total: int) -> str:
    """Return "12/40 MB": both counts in the unit of TOTAL (one decimal below 10 units)."""
    unit, name = next(((u, n) for u, n in _UNITS if total >= u), (1, "B"))
    if unit == 1:
        return f"{current}/{total} B"
    digits = 1 if total < 10 * unit else 0
    return f"{current / unit:.{digits}f}/{total / unit:.{digits}f} {name}"


class PullProgress:
    """Sum Docker's pull progress messages over layers; report at most every INTERVAL.

    Call it with each message (it is the pull's `emit`). A layer counts once
    its size is known ("Downloading" gives it); "Download complete" and
    "Pull complete" count it as fully downloaded; layers the node already has
    ("Already exists") do not count.
    """

    def __init__(self, report: Progress, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.report = report
        self.interval = interval
        self.clock = clock
        self.layers: dict[str, tuple[int, int]] = {}  # id -> (current, total)
        self._last: float | None = None

    def text(self) -> str:
        current = sum(c for c, _ in self.layers.values())
        total = sum(t for _, t in self.layers.values())
        return f"pulling {sizes(current, total)}" if total else "pulling"

    def __call__(self, msg: dict[str, Any]) -> None:
        ident, status = str(msg.get("id") or ""), str(msg.get("status") or "")
        detail = msg.get("progressDetail") or {}
        if not ident:
            return
        if status == "Downloading" and isinstance(detail, dict):
            total = int(detail.get("total") or 0)
            self.layers[ident] = (min(int(detail.get("current") or 0), total), total)
        elif status in ("Download complete", "Pull complete") and ident in self.layers:
            total = self.layers[ident][1]
            self.layers[ident] = (total, total)
        else:
            return
        self.tick()

    def tick(self) -> None:
        """Report the current text unless one went out less than INTERVAL ago."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            return
        self._last = now
        self.report(self.text())


@dataclass
class _Pull:
    listeners: list[Progress] = field(default_factory=list)
    job: asyncio.Task[None] | None = None
    last: str = ""

    def join(self, listener: Progress) -> None:
        """Add LISTENER; a task joining a pull under way sees where it is at once."""
        self.listeners.append(listener)
        if self.last:
            listener(self.last)

    def report(self, text: str) -> None:
        self.last = text
        for listener in list(self.listeners):
            try:
                listener(text)
            except Exception:
                log.exception("pull progress listener failed")


class ImagePuller:
    """Pulls the images of the node's tasks through ENGINE (its `images` and `registry`)."""

    def __init__(self, engine: Any, interval: float = INTERVAL) -> None:
        self.engine = engine
        self.interval = interval
        self._pulls: dict[tuple[str, str], _Pull] = {}
        self.pulled = 0  # pulls started (tests and logs)

    async def present(self, ref: str) -> bool:
        try:
            await asyncio.to_thread(self.engine.images.get, ref)
        except NotFound:
            return False
        return True

    async def ensure(self, image: str, registry_auth: str = "",
                     progress: Progress | None = None) -> None:
        """Make IMAGE present in the engine's store, pulling it when missing.

        Raise TaskRejected when it cannot be had (bad reference, registry
        error, unreachable registry), with the registry's reason.
        """
        target = target_of(image)
        if await self.present(target.lookup):
            return
        if not target.pull:
            raise TaskRejected(f"No such image: {image}")
        creds = credentials_of(registry_auth)
        key = (target.pull, creds.identity())
        pull = self._pulls.get(key)
        if pull is None:
            pull = self._pulls[key] = _Pull()
            pull.job = asyncio.create_task(self._run(key, target, creds, pull))
        if progress is not None:
            pull.join(progress)
        assert pull.job is not None
        try:
            # shielded: a task that stops waiting does not cancel the others' pull
            await asyncio.shield(pull.job)
        finally:
            if progress is not None and progress in pull.listeners:
                pull.listeners.remove(progress)

    async def _run(self, key: tuple[str, str], target: PullTarget, creds: Credentials,
                   pull: _Pull) -> None:
        self.pulled += 1
        meter = PullProgress(pull.report, self.interval)
        try:
            pull.report(meter.text())  # "pulling": a first byte count may follow at once
            log.info("pulling %s", target.pull)
            await self.engine.registry.pull(target.pull, creds, meter)
            if target.tag:
                await asyncio.to_thread(self.engine.images.tag, target.lookup, target.tag)
        except (TimeoutError, EngineError, OSError) as exc:
            log.warning("pulling %s failed: %s", target.pull, exc)
            raise TaskRejected(f"No such image: {target.image} (pull failed: {exc})") from exc
        finally:
            self._pulls.pop(key, None)
