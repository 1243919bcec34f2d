"""The container lifecycle: create, start, stop, kill, wait, remove, attach, re-adopt.

One ContainerService per engine. It owns the records (ContainerStore) and
drives the runtime; every running container has a monitor task that waits
for its exit (through the runtime, which watches the shim with a pidfd), so a
container started by a previous shoald is watched the same way after restart.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from shoal.engine.config import EngineConfig
from shoal.engine.containers import views
from shoal.engine.containers.config import merge_config, parse_signal, validate_host_config
from shoal.engine.containers.errors import (
    ContainerNotRunning,
    ContainerRunning,
    InvalidConfig,
)
from shoal.engine.containers.health import HealthMonitor
from shoal.engine.containers.interfaces import ImagesLike, RuntimeLike, SnapshotsLike
from shoal.engine.containers.logs import LogLine, LogOptions, read_logs
from shoal.engine.containers.model import Container, now_rfc3339
from shoal.engine.containers.names import new_id, random_name, validate_name
from shoal.engine.containers.networking import ContainerNetworking, NetworksLike
from shoal.engine.containers.specs import build_spec, container_env, process_for, write_etc_files
from shoal.engine.containers.store import ContainerStore
from shoal.engine.errors import Conflict, EngineError, NotModified
from shoal.engine.volumes import VolumeService
from shoal.engine.volumes.resolve import (
    ResolvedMounts,
    release_mounts,
    resolve_mounts,
    sort_mounts,
    start_mounts,
    stop_mounts,
)

log = logging.getLogger(__name__)

WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


class ContainerService:
    """Create and drive containers; the REST API and the agent call this."""

    def __init__(
        self,
        config: EngineConfig,
        images: ImagesLike,
        snapshots: SnapshotsLike,
        runtime: RuntimeLike,
        networks: NetworksLike | None = None,
        volumes: VolumeService | None = None,
    ) -> None:
        self.config = config
        self.volumes = volumes
        self.net = ContainerNetworking(networks)
        self.images = images
        self.snapshots = snapshots
        self.runtime = runtime
        self.store = ContainerStore(config.containers_root)
        self._locks: dict[str, asyncio.Lock] = {}
        self._monitors: dict[str, asyncio.Task[None]] = {}
        self._health: dict[str, HealthMonitor] = {}
        self._exit_waiters: dict[str, list[asyncio.Future[int]]] = {}
        self._remove_waiters: dict[str, list[asyncio.Future[int]]] = {}
        self._pending_attach: dict[str, list[tuple[bool, asyncio.Future[Any]]]] = {}

    # ---- lookup -------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        return self.store.get(ref)

    def list(self, all: bool = False) -> list[Container]:
        items = [c for c in self.store.all() if all or c.running]
        return sorted(items, key=lambda c: c.Created, reverse=True)

    def inspect(self, ref: str) -> dict[str, Any]:
        c = self.get(ref)
        d = self.store.dir(c.Id)
        files = {n: str(d / n) for n in ("hostname", "hosts", "resolv.conf")}
        return views.inspect(c, files, self.net.settings(c))

    def summary(self, c: Container) -> dict[str, Any]:
        return views.summary(c, self.net.settings(c))

    def _lock(self, cid: str) -> asyncio.Lock:
        return self._locks.setdefault(cid, asyncio.Lock())

    # ---- create -------------------------------------------------------------------
    async def create(self, body: dict[str, Any], name: str | None = None) -> Container:
        """Create a container from a Docker create request; leaves nothing on failure."""
        image_ref = body.get("Image")
        if not image_ref or not isinstance(image_ref, str):
            raise InvalidConfig("Config.Image is required: no image given")
        name = validate_name(name) if name else None
        hc = validate_host_config(body.get("HostConfig"))
        image = await asyncio.to_thread(self.images.get, image_ref)
        cfg = merge_config((image.config or {}).get("config") or {}, body)
        cid = new_id()
        cfg["Image"] = image_ref
        cfg["Hostname"] = cfg.get("Hostname") or cid[:12]
        args = [*(cfg["Entrypoint"] or []), *(cfg["Cmd"] or [])]
        if name is None:
            name = self._free_name()
        c = Container(
            Id=cid, Name=name, Image=image.id, ImageRef=image_ref, Config=cfg, HostConfig=hc,
            Path=args[0], Args=args[1:], NetworkingConfig=body.get("NetworkingConfig") or {},
        )
        await asyncio.to_thread(self.net.check, c)
        c.LogPath = str(self.store.dir(cid) / f"{cid}-json.log")
        self.store.reserve(c)
        try:
            rootfs = await asyncio.to_thread(self.snapshots.prepare, cid, image)
            c.Rootfs = str(rootfs)
            if self.volumes is not None:
                # Config.Volumes: the image's VOLUME entries plus the request's (`-v /path`)
                res = await asyncio.to_thread(
                    resolve_mounts, hc, cfg.get("Volumes"), cid, self.volumes, rootfs
                )
                c.MountsResolved, c.Mounts = res.to_dict(), list(res.inspect)
                c.AnonymousVolumes = list(res.anonymous)
            self.store.save(c)
        except BaseException:
            await asyncio.to_thread(self._discard_rootfs, cid)
            self.store.delete(cid)
            raise
        return c

    def _free_name(self) -> str:
        for _ in range(50):
            n = random_name()
            if not any(c.Name == n for c in self.store.all()):
                return n
        return random_name() + "_" + new_id()[:6]

    def _discard_rootfs(self, cid: str) -> None:
        with contextlib.suppress(EngineError, OSError):
            self.snapshots.remove(cid)

    # ---- start --------------------------------------------------------------------
    async def start(self, ref: str) -> None:
        """Start the container's process; NotModified if it already runs."""
        c = self.get(ref)
        async with self._lock(c.Id):
            if c.running:
                raise NotModified(f"container {c.Id[:12]} is already running")
            await self._start_locked(c)

    async def _start_locked(self, c: Container) -> None:
        image = await asyncio.to_thread(self.images.get, c.Image)
        rootfs = Path(await asyncio.to_thread(self.snapshots.mount, c.Id, image))
        c.Rootfs = str(rootfs)
        try:
            att = await asyncio.to_thread(self.net.attach, c)
        except EngineError as exc:
            self._record_start_failure(c, exc)
            raise
        try:
            files = await asyncio.to_thread(
                write_etc_files, rootfs, self.store.dir(c.Id), att.files
            )
            extra = await asyncio.to_thread(self._start_mounts, c)
            res = ResolvedMounts.from_dict(c.MountsResolved)
            files = {n: p for n, p in files.items() if f"/etc/{n}" not in res.destinations}
            spec = await asyncio.to_thread(
                build_spec, c, rootfs, files, self.config, att.net_namespace, extra
            )
            spec.mounts = sort_mounts(spec.mounts)
            await self.runtime.create(spec)
        except BaseException as exc:
            await asyncio.to_thread(self._detach_quietly, c)
            if isinstance(exc, EngineError):
                self._record_start_failure(c, exc)
            raise
        await self._connect_pending_attach(c.Id)
        try:
            pid = await self.runtime.start(c.Id)
        except EngineError as exc:
            st = self.runtime.state(c.Id)
            code = st.exit_code if st.exit_code is not None else 127
            c.State.set_exited(code, now_rfc3339(), error=str(exc))
            self.store.save(c)
            with contextlib.suppress(EngineError):
                await self.runtime.delete(c.Id)
            await asyncio.to_thread(self._detach_quietly, c)
            self._notify_exit(c.Id, code)
            if c.HostConfig.get("AutoRemove"):
                await self._remove_locked(c)
            raise
        c.State.set_running(pid, now_rfc3339())
        self.store.save(c)
        self._watch(c)

    def _record_start_failure(self, c: Container, exc: EngineError) -> None:
        c.State.Error = str(exc)
        c.State.ExitCode = 128
        self.store.save(c)
        self._fail_pending_attach(c.Id)

    def _start_mounts(self, c: Container) -> builtins.list[Any]:
        if self.volumes is None or not c.MountsResolved:
            return []
        return start_mounts(ResolvedMounts.from_dict(c.MountsResolved), self.volumes, c.Id)

    def _detach_quietly(self, c: Container) -> None:
        """Release what a stopped container holds: network, volume mounts."""
        try:
            self.net.detach(c)
        except (EngineError, OSError) as exc:
            log.warning("network cleanup of %s failed: %s", c.Id[:12], exc)
        if self.volumes is not None and c.MountsResolved:
            try:
                stop_mounts(ResolvedMounts.from_dict(c.MountsResolved), self.volumes, c.Id)
            except (EngineError, OSError) as exc:
                log.warning("volume cleanup of %s failed: %s", c.Id[:12], exc)

    def _watch(self, c: Container) -> None:
        self._monitors[c.Id] = asyncio.create_task(self._monitor(c), name=f"monitor-{c.Id[:12]}")
        hm = HealthMonitor(c, self.runtime, lambda args: self._probe_process(c, args),
                           self.store.save)
        self._health[c.Id] = hm
        hm.start()

    def _probe_process(self, c: Container, args: builtins.list[str]) -> Any:
        return process_for(Path(c.Rootfs), args, container_env(c),
                           c.Config.get("WorkingDir") or "/", c.Config.get("User") or "",
                           False, False)

    async def _monitor(self, c: Container) -> None:
        """Wait for the container's exit, record it, clean up, auto-remove."""
        try:
            st = await self.runtime.wait(c.Id)
        except EngineError as exc:
            log.warning("lost track of container %s: %s", c.Id[:12], exc)
            st = None
        hm = self._health.pop(c.Id, None)
        if hm is not None:
            await hm.stop()
        async with self._lock(c.Id):
            code = st.exit_code if st is not None and st.exit_code is not None else 255
            finished = (st.finished_at if st is not None else "") or now_rfc3339()
            c.State.set_exited(code, finished, oom=bool(st and st.oom_killed))
            if self.store.has(c.Id):
                self.store.save(c)
            with contextlib.suppress(EngineError):
                await self.runtime.delete(c.Id)
            await asyncio.to_thread(self._detach_quietly, c)
            self._monitors.pop(c.Id, None)
            self._notify_exit(c.Id, code)
            if c.HostConfig.get("AutoRemove") and self.store.has(c.Id):
                await self._remove_locked(c)

    def _notify_exit(self, cid: str, code: int) -> None:
        for fut in self._exit_waiters.pop(cid, []):
            if not fut.done():
                fut.set_result(code)

    # ---- stop / kill / restart ------------------------------------------------------
    async def kill(self, ref: str, sig: str | int = "KILL") -> None:
        c = self.get(ref)
        if not c.running:
            raise ContainerNotRunning(f"Container {c.Id} is not running")
        await self.runtime.kill(c.Id, parse_signal(sig))

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        """Send the stop signal, then SIGKILL after the grace period."""
        c = self.get(ref)
        if not c.running:
            raise NotModified(f"container {c.Id[:12]} is not running")
        await self._stop(c, timeout, sig)

    async def _stop(self, c: Container, timeout: int | None, sig: str | None = None) -> None:
        if timeout is None:
            timeout = c.Config.get("StopTimeout")
        if timeout is None:
            timeout = self.config.stop_timeout
        stop_sig = parse_signal(sig or c.Config.get("StopSignal") or "SIGTERM")
        exited = self._exit_future(c.Id)
        with contextlib.suppress(ContainerNotRunning, EngineError):
            await self.runtime.kill(c.Id, stop_sig)
        if timeout < 0:
            await exited
            return
        try:
            await asyncio.wait_for(asyncio.shield(exited), timeout)
        except TimeoutError:
            with contextlib.suppress(EngineError):
                await self.runtime.kill(c.Id, signal.SIGKILL)
            await exited

    def _exit_future(self, cid: str) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        c = self.store.get(cid)
        if not c.running and cid not in self._monitors:
            fut.set_result(c.State.ExitCode)
        else:
            self._exit_waiters.setdefault(cid, []).append(fut)
        return fut

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        c = self.get(ref)
        if c.running:
            await self._stop(c, timeout)
        async with self._lock(c.Id):
            if not c.running:
                await self._start_locked(c)

    # ---- wait ---------------------------------------------------------------------
    def waiter(self, ref: str, condition: str = "not-running") -> asyncio.Future[int]:
        """Register a wait now and return the future of the exit code.

        Registering before answering lets `docker run` wait for a container it
        has not started yet without missing its exit.
        """
        if condition not in WAIT_CONDITIONS:
            raise InvalidConfig(
                f"invalid condition: {condition!r} (one of {', '.join(WAIT_CONDITIONS)})"
            )
        c = self.get(ref)
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if condition == "removed":
            self._remove_waiters.setdefault(c.Id, []).append(fut)
        elif condition == "not-running" and not c.running and c.Id not in self._monitors:
            fut.set_result(c.State.ExitCode)
        else:
            self._exit_waiters.setdefault(c.Id, []).append(fut)
        return fut

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        """Block until the condition holds; return the exit code."""
        return await self.waiter(ref, condition)

    # ---- remove -------------------------------------------------------------------
    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        """Remove a container (FORCE: kill it first; VOLUMES: also its anonymous volumes)."""
        c = self.get(ref)
        if c.running and not force:
            raise ContainerRunning(
                f"You cannot remove a running container {c.Id}. Stop the container before "
                "attempting removal or force remove"
            )
        if c.running:
            exited = self._exit_future(c.Id)
            with contextlib.suppress(EngineError):
                await self.runtime.kill(c.Id, signal.SIGKILL)
            await exited
        async with self._lock(c.Id):
            if self.store.has(c.Id):
                await self._remove_locked(c, volumes)

    async def _remove_locked(self, c: Container, volumes: bool = False) -> None:
        c.State.Status = "removing"
        if c.Id in self.runtime.list():
            with contextlib.suppress(EngineError):
                await self.runtime.delete(c.Id)
        await asyncio.to_thread(self._detach_quietly, c)
        if self.volumes is not None and c.MountsResolved:
            anonymous = volumes or bool(c.HostConfig.get("AutoRemove"))
            await asyncio.to_thread(release_mounts, ResolvedMounts.from_dict(c.MountsResolved),
                                    self.volumes, c.Id, anonymous)
        await asyncio.to_thread(self.snapshots.remove, c.Id)
        self.store.delete(c.Id)
        self._locks.pop(c.Id, None)
        for fut in self._remove_waiters.pop(c.Id, []):
            if not fut.done():
                fut.set_result(c.State.ExitCode)

    # ---- attach / resize / logs -------------------------------------------------------
    async def attach(self, ref: str, stdin: bool = False) -> Any | None:
        """Return an attach stream; for a created container, wait until it starts.

        None means the container is not running and will not be (nothing to attach).
        """
        c = self.get(ref)
        if c.running:
            return await self.runtime.attach(c.Id, stdin=stdin)
        if c.State.Status != "created":
            return None
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending_attach.setdefault(c.Id, []).append((stdin, fut))
        return await fut

    async def _connect_pending_attach(self, cid: str) -> None:
        for stdin, fut in self._pending_attach.pop(cid, []):
            if fut.done():
                continue
            try:
                fut.set_result(await self.runtime.attach(cid, stdin=stdin))
            except EngineError as exc:
                fut.set_exception(exc)

    def _fail_pending_attach(self, cid: str) -> None:
        for _stdin, fut in self._pending_attach.pop(cid, []):
            if not fut.done():
                fut.set_result(None)

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        if not c.running:
            raise ContainerNotRunning(f"Container {c.Id} is not running")
        await self.runtime.resize(c.Id, height, width)

    def logs(self, ref: str, opts: LogOptions) -> tuple[Container, AsyncIterator[LogLine]]:
        c = self.get(ref)
        return c, read_logs(c.LogPath, opts, lambda: c.running)

    # ---- networks -------------------------------------------------------------------
    async def connect(self, network: str, ref: str, endpoint: dict[str, Any]) -> None:
        """Connect a container to NETWORK: at once if it runs, at its next start otherwise."""
        c = self.get(ref)
        nets = self.net.networks
        if nets is None:
            raise InvalidConfig("networking is disabled in this engine")
        n = await asyncio.to_thread(nets.get, network)
        async with self._lock(c.Id):
            eps = c.NetworkingConfig.setdefault("EndpointsConfig", {})
            if n.name in eps or self.net.network_of(c) == n.name:
                raise Conflict(f"container {c.Name} is already connected to network {n.name}")
            if c.running:
                ip = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None
                await asyncio.to_thread(nets.connect, n.name, c.Id, c.Name,
                                        endpoint.get("Aliases") or [], ip)
            eps[n.name] = endpoint
            self.store.save(c)

    async def disconnect(self, network: str, ref: str, force: bool = False) -> None:
        """Disconnect a container from NETWORK (now if running; from its config anyway)."""
        c = self.get(ref)
        nets = self.net.networks
        if nets is None:
            raise InvalidConfig("networking is disabled in this engine")
        n = await asyncio.to_thread(nets.get, network)
        async with self._lock(c.Id):
            eps = c.NetworkingConfig.get("EndpointsConfig") or {}
            known = n.name in eps or self.net.network_of(c) == n.name
            if not known and not force:
                raise InvalidConfig(f"container {c.Name} is not connected to network {n.name}")
            if c.running:
                await asyncio.to_thread(nets.disconnect, n.name, c.Id, force)
            eps.pop(n.name, None)
            if self.net.network_of(c) == n.name:
                c.HostConfig["NetworkMode"] = "none"
            self.store.save(c)

    # ---- daemon restart ---------------------------------------------------------------
    async def restore(self) -> None:
        """Re-adopt the containers of a previous shoald: running ones keep running."""
        known = set(self.runtime.list())
        for c in self.store.load():
            if c.State.Status == "removing":
                await self._remove_locked(c)
                continue
            if not c.running:
                continue
            if c.Id in known and self.runtime.state(c.Id).status in ("running", "created"):
                self._watch(c)
                continue
            st = self.runtime.state(c.Id) if c.Id in known else None
            code = st.exit_code if st is not None and st.exit_code is not None else 255
            c.State.set_exited(code, (st.finished_at if st else "") or now_rfc3339())
            self.store.save(c)
            if c.Id in known:
                with contextlib.suppress(EngineError):
                    await self.runtime.delete(c.Id)
            await asyncio.to_thread(self._detach_quietly, c)
            if c.HostConfig.get("AutoRemove"):
                await self._remove_locked(c)

    async def close(self) -> None:
        """Stop watching (containers keep running: they belong to their shims)."""
        for hm in list(self._health.values()):
            await hm.stop()
        self._health.clear()
        for t in list(self._monitors.values()):
            t.cancel()
        for t in list(self._monitors.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._monitors.clear()

