"""The build steps that change the filesystem (RUN, COPY, ADD) and the commit of a step.

A step starts from the stage's current image. RUN runs in a real engine
container (create, attach, start, wait) whose snapshot's upper dir, once
unmounted, holds the step's changes; COPY/ADD copy into a snapshot of their own
(no process). Either way the upper dir becomes the layer: its tar goes to the
content store and the dir itself is adopted as the new layer's unpacked form.
Whatever happens (failure, Ctrl-C of the client), the container or snapshot is
removed before the step returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.engine.errors import EngineError
from shoal.engine.images import digest as dg
from shoal.engine.images import manifest
from shoal.engine.images.build.context import resolve_in_root
from shoal.engine.images.build.dispatch import StageFlags
from shoal.engine.images.build.errors import BuildError
from shoal.engine.images.build.layerdiff import remove_created, store_layer
from shoal.engine.images.model import Image, Layer, now_rfc3339

log = logging.getLogger(__name__)

Emit = Callable[[str], None]
# Mount points the runtime makes in a rootfs that lacks them: not a step's changes.
RUNTIME_PATHS = ("proc", "sys", "dev", "etc/hostname", "etc/hosts", "etc/resolv.conf")


class StepFailed(BuildError):
    """A RUN's command exited non-zero (Docker's message; CODE is its exit code)."""

    def __init__(self, argv: list[str], code: int) -> None:
        super().__init__(f"The command '{' '.join(argv)}' returned a non-zero code: {code}")
        self.code = code


@dataclass
class StageState:
    """Where a stage stands: its current image (id, whole config, layers) and ARGs."""

    image_id: str
    config: dict[str, Any]
    layers: list[Layer]
    flags: StageFlags = field(default_factory=StageFlags)
    args: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def of(cls, img: Image, flags: StageFlags) -> StageState:
        return cls(img.id, copy.deepcopy(img.config), list(img.layers), flags)

    @property
    def container_config(self) -> dict[str, Any]:
        cfg = self.config.setdefault("config", {})
        assert isinstance(cfg, dict)
        return cfg

    def image(self) -> Image:
        """Return the state as an image (the snapshotter's view of its layers)."""
        return Image(self.image_id or "sha256:" + "0" * 64, self.config, list(self.layers))

    def chain_id(self) -> str:
        ids = [layer.diff_id for layer in self.layers]
        return dg.chain_ids(ids)[-1] if ids else ""


def commit(images: Any, state: StageState, created_by: str, layer: Layer | None,
           pinned: list[str], new: set[str]) -> str:
    """Store STATE's config plus one history entry (and LAYER) as an image; return its id.

    Call inside `images.ingest()` (PINNED, NEW): a failure leaves no blob behind.
    """
    cfg = copy.deepcopy(state.config)
    created = now_rfc3339()
    cfg["created"] = created
    entry: dict[str, Any] = {"created": created, "created_by": created_by}
    if layer is None:
        entry["empty_layer"] = True
    cfg["history"] = [*(cfg.get("history") or []), entry]
    layers = [*state.layers, *([layer] if layer is not None else [])]
    cfg["rootfs"] = {"type": "layers", "diff_ids": [x.diff_id for x in layers]}
    config_bytes = manifest.to_json(cfg)
    config_digest = images.blobs.put(config_bytes, pin=True, new=new)
    pinned.append(config_digest)
    m = manifest.build_manifest(config_digest, len(config_bytes), layers)
    pinned.append(images.blobs.put(m, pin=True, new=new))
    images.add_image(config_digest, layers, dg.of_bytes(m), [])
    if state.image_id:
        images.set_parent(config_digest, state.image_id)
    state.image_id, state.config, state.layers = config_digest, cfg, layers
    return config_digest


def _adopt(snapshots: Any, state: StageState, parent_chain: str, layer: Layer,
           upper: Path) -> None:
    """Make UPPER the unpacked form of the state's top layer (or leave it if present)."""
    try:
        snapshots.adopt_layer(state.chain_id(), layer.diff_id, parent_chain, upper)
    except OSError as exc:  # an optimisation only: the tar is unpacked when needed
        log.warning("build: could not adopt the layer dir %s: %s", upper, exc)


def _lookup(root: Path, rel: str, name: str, what: str) -> int:
    if name.isdigit():
        return int(name)
    try:
        path, missing = resolve_in_root(str(root), rel)
        lines = [] if missing else Path(path).read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for ln in lines:
        parts = ln.split(":")
        if len(parts) > 2 and parts[0] == name and parts[2].isdigit():
            return int(parts[2])
    raise BuildError(
        f"unable to convert uid/gid chown string to host mapping: can't find {what} "
        f"for {name!r} in /{rel}"
    )


def resolve_chown(spec: str, rootfs: Path) -> tuple[int, int]:
    """Return the (uid, gid) of a --chown=USER[:GROUP] looked up in ROOTFS's passwd/group."""
    user, _, group = spec.partition(":")
    if not user:
        raise BuildError(f"invalid --chown value {spec!r}")
    uid = _lookup(rootfs, "etc/passwd", user, "uid")
    gid = _lookup(rootfs, "etc/group", group or user, "gid")
    return uid, gid


async def cleanup(fn: Callable[[], Any]) -> None:
    """Run FN in a thread even if the caller is being cancelled (never leave a mount)."""
    task = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


async def copy_step(images: Any, snapshots: Any, state: StageState, created_by: str,
                    do_copy: Callable[[Path], None]) -> str:
    """Run DO_COPY(rootfs) in a snapshot of the state's image; commit the result as a layer."""
    key = f"build-{secrets.token_hex(8)}"
    parent_chain = state.chain_id()
    merged = await asyncio.to_thread(snapshots.prepare, key, state.image())
    try:
        await asyncio.to_thread(do_copy, merged)
        return await asyncio.to_thread(_commit_upper, images, snapshots, key, state,
                                       created_by, parent_chain, ())
    finally:
        await cleanup(lambda: snapshots.remove(key))


async def with_rootfs(snapshots: Any, image: Image, fn: Callable[[Path], Any]) -> Any:
    """Call FN(rootfs) with IMAGE mounted in a throw-away snapshot (COPY --from)."""
    key = f"build-from-{secrets.token_hex(8)}"
    merged = await asyncio.to_thread(snapshots.prepare, key, image)
    try:
        return await asyncio.to_thread(fn, merged)
    finally:
        await cleanup(lambda: snapshots.remove(key))


def _commit_upper(images: Any, snapshots: Any, key: str, state: StageState, created_by: str,
                  parent_chain: str, created: tuple[str, ...] | list[str]) -> str:
    snapshots.unmount(key)
    upper = snapshots.upper_dir(key)
    remove_created(upper, created)
    with images.ingest() as (pinned, new):
        layer = store_layer(upper, images.blobs, new)
        pinned.append(layer.digest)
        image_id = commit(images, state, created_by, layer, pinned, new)
    _adopt(snapshots, state, parent_chain, layer, upper)
    return image_id


async def run_step(images: Any, snapshots: Any, containers: Any, state: StageState,
                   argv: list[str], env: list[str], network: str, created_by: str,
                   emit: Emit) -> str:
    """Run ARGV in a container of the state's image; commit its changes as a layer."""
    cfg = state.container_config
    body = {
        "Image": state.image_id, "Cmd": argv, "Entrypoint": [""], "Env": env,
        "User": cfg.get("User") or "", "WorkingDir": cfg.get("WorkingDir") or "",
        "Healthcheck": {"Test": ["NONE"]}, "AttachStdout": True, "AttachStderr": True,
        "HostConfig": {"NetworkMode": network or "default"},
    }
    c = await containers.create(body)
    cid = c.Id
    attach: asyncio.Future[Any] | None = None
    try:
        emit(f" ---> Running in {cid[:12]}\n")
        rootfs = Path(c.Rootfs)
        created = [p for p in RUNTIME_PATHS if not os.path.lexists(rootfs / p)]
        attach = asyncio.ensure_future(containers.attach(cid))
        await asyncio.sleep(0)  # the attach is registered before the process starts
        await containers.start(cid)
        stream = await attach
        while stream is not None and (item := await stream.read()) is not None:
            emit(item[1].decode("utf-8", "replace"))
        code = await containers.wait(cid)
        if code != 0:
            raise StepFailed(argv, code)
        parent_chain = state.chain_id()
        image_id = await asyncio.to_thread(_commit_upper, images, snapshots, cid, state,
                                           created_by, parent_chain, created)
        emit(f"Removing intermediate container {cid[:12]}\n")
        return image_id
    finally:
        if attach is not None and not attach.done():
            attach.cancel()
        await _remove_container(containers, cid)


async def _remove_container(containers: Any, cid: str) -> None:
    task = asyncio.ensure_future(containers.remove(cid, force=True, volumes=True))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(EngineError):
            await task
        raise
    except EngineError as exc:
        log.warning("build: removing container %s failed: %s", cid[:12], exc)
