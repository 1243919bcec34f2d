"""Turn a container's HostConfig and image volumes into mounts, as `docker create` does.

resolve_mounts() runs once, at container create: it parses Binds, Mounts,
Tmpfs and the image's Volumes, creates and references the volumes (copying the
image's content into empty ones), and returns a ResolvedMounts to store with
the container. On failure it leaves nothing behind. The other functions follow
the container's life: start_mounts (start), stop_mounts (exit) and
release_mounts (remove; `rm -v` and `--rm` also remove its anonymous volumes).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shoal.engine.runtime.spec import Mount
from shoal.engine.volumes import copyup, local
from shoal.engine.volumes.errors import InvalidMountConfig, VolumeError
from shoal.engine.volumes.model import ANONYMOUS_LABEL, LOCAL, Volume, validate_name
from shoal.engine.volumes.parse import (
    MountRequest,
    check_destination,
    parse_bind,
    parse_mount,
    parse_tmpfs,
)
from shoal.engine.volumes.service import VolumeService, check_driver

_COPY_UP_ID = "copy-up:"


@dataclass
class ResolvedMounts:
    """A container's mounts, ready for the runtime and for inspect; JSON-able (to_dict)."""

    mounts: list[Mount] = field(default_factory=list)  # runtime mounts, parents first
    inspect: list[dict[str, Any]] = field(default_factory=list)  # inspect's "Mounts"
    volumes: list[str] = field(default_factory=list)  # every volume it references
    anonymous: list[str] = field(default_factory=list)  # the anonymous volumes made for it
    bind_sources: list[str] = field(default_factory=list)  # -v sources to create at start

    @property
    def destinations(self) -> list[str]:
        return [m.destination for m in self.mounts]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ResolvedMounts:
        d = {k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__}
        d["mounts"] = [Mount(**m) for m in d.get("mounts") or []]
        return cls(**d)


def _depth(dest: str) -> int:
    return len([p for p in dest.split("/") if p])


def sort_mounts(mounts: list[Mount]) -> list[Mount]:
    """Return MOUNTS with parents before children (stable), as Docker orders them."""
    return sorted(mounts, key=lambda m: _depth(m.destination))


def plan(
    host_config: dict[str, Any], image_volumes: dict[str, Any] | None, rootfs: Path | None
) -> list[MountRequest]:
    """Parse and check every mount the container asks for (no side effect)."""
    hc = host_config or {}
    seen: dict[str, MountRequest] = {}
    tmpfs = hc.get("Tmpfs") or {}
    if not isinstance(tmpfs, dict):
        raise InvalidMountConfig(f"HostConfig.Tmpfs must map paths to options, not {tmpfs!r}")
    tmpfs_reqs = [parse_tmpfs(dest, opts) for dest, opts in tmpfs.items()]
    binds = _as_list(hc.get("Binds"), "Binds")
    volume_driver = hc.get("VolumeDriver") or ""
    reqs = [parse_bind(b, volume_driver) for b in binds]
    reqs += [parse_mount(m) for m in _as_list(hc.get("Mounts"), "Mounts")]
    for req in [*reqs, *tmpfs_reqs]:
        if req.destination in seen:
            raise req.fail(f"Duplicate mount point: {req.destination}")
        seen[req.destination] = req
    for raw in sorted(image_volumes or {}):
        origin = f"image volume {raw!r} (Config.Volumes)"
        dest = check_destination(raw, origin)
        if dest in seen:
            continue  # a bind, mount or tmpfs of the container covers it
        seen[dest] = MountRequest(type="volume", destination=dest, origin=origin,
                                  driver=volume_driver or LOCAL, from_image=True)  # fmt: skip
    for req in seen.values():
        if req.type == "volume":
            _check_volume(req)
        if rootfs is not None and req.type != "tmpfs":
            _check_target_type(req, str(rootfs), seen)
    return list(seen.values())


def _check_target_type(req: MountRequest, rootfs: str, seen: dict[str, MountRequest]) -> None:
    """Refuse a directory over a file of the image, or a file over a directory.

    The runtime would fail at start; this says why at create. Skipped when another
    mount covers a parent of the destination (the image's file is then hidden).
    """
    if any(req.destination.startswith(d + "/") for d in seen):
        return
    path = copyup.image_path(rootfs, req.destination)
    if not os.path.exists(path):
        return
    # A missing bind source will be created as a directory.
    source_is_dir = (
        req.type == "volume" or not os.path.lexists(req.source) or os.path.isdir(req.source)
    )
    if os.path.isdir(path) == source_is_dir:
        return
    if req.from_image:
        raise req.fail(f"cannot mount volume over existing file, file exists {path}")
    what = "a directory onto a file" if source_is_dir else "a file onto a directory"
    raise req.fail(
        f"cannot mount {what}: {req.destination} is a {'file' if source_is_dir else 'directory'}"
        " in the image"
    )


def _check_volume(req: MountRequest) -> None:
    """Check a volume request's name, driver and options before anything is created."""
    try:
        if req.source:
            validate_name(req.source)
        check_driver(req.driver)
        local.validate_options(req.driver_options)
    except VolumeError as exc:
        raise _prefixed(exc, req.origin) from exc


def _prefixed(exc: VolumeError, origin: str) -> VolumeError:
    """Return an error of EXC's class whose message starts with ORIGIN."""
    try:
        return type(exc)(f"{origin}: {exc}")
    except TypeError:
        return exc


def _as_list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidMountConfig(f"HostConfig.{name} must be a list, not {value!r}")
    return value


class _Undo:
    """What a failed resolution must take back."""

    def __init__(self, volumes: VolumeService, container_id: str) -> None:
        self.volumes, self.cid = volumes, container_id
        self.referenced: list[str] = []
        self.created: list[str] = []
        self.dirs: list[str] = []

    def run(self) -> None:
        for name in self.referenced:
            with contextlib.suppress(VolumeError):
                self.volumes.release(name, self.cid)
        for name in self.created:
            with contextlib.suppress(VolumeError):
                self.volumes.remove(name)
        for d in reversed(self.dirs):
            with contextlib.suppress(OSError):
                os.rmdir(d)


def _make_dirs(path: str) -> list[str]:
    """Create PATH and its missing parents; return the directories created, outermost first."""
    missing: list[str] = []
    p = path
    while not os.path.lexists(p):
        missing.append(p)
        p = os.path.dirname(p)
    os.makedirs(path, mode=0o755, exist_ok=True)
    return missing[::-1]


def resolve_mounts(
    host_config: dict[str, Any],
    image_volumes: dict[str, Any] | None,
    container_id: str,
    volumes: VolumeService,
    rootfs: Path | None = None,
) -> ResolvedMounts:
    """Resolve a container's mounts at create; create and reference its volumes.

    ROOTFS (the container's mounted rootfs) enables copy-up and the check that an
    image volume does not hide a file; without it neither happens.
    """
    reqs = plan(host_config, image_volumes, rootfs)
    undo = _Undo(volumes, container_id)
    out = ResolvedMounts()
    try:
        for req in reqs:
            _realize(req, out, undo, volumes, container_id, rootfs)
    except BaseException:
        undo.run()
        raise
    order = sorted(range(len(out.mounts)), key=lambda i: _depth(out.mounts[i].destination))
    out.mounts = [out.mounts[i] for i in order]
    out.inspect.sort(key=lambda e: (_depth(e["Destination"]), e["Destination"]))
    return out


def _realize(
    req: MountRequest,
    out: ResolvedMounts,
    undo: _Undo,
    volumes: VolumeService,
    cid: str,
    rootfs: Path | None,
) -> None:
    name, driver, source = "", "", req.source
    mode, options = req.mode, []
    if req.type == "volume":
        labels = {**req.labels, **({ANONYMOUS_LABEL: ""} if req.anonymous else {})}
        try:
            v, created = volumes.ensure(req.source or None, req.driver, labels,
                                        req.driver_options, reference=cid)  # fmt: skip
        except VolumeError as exc:
            raise _prefixed(exc, req.origin) from exc
        undo.referenced.append(v.name)
        if created:
            undo.created.append(v.name)
        name, driver = v.name, v.driver
        if v.name not in out.volumes:
            out.volumes.append(v.name)
        if req.anonymous:
            out.anonymous.append(v.name)
        if req.copy and rootfs is not None:
            _copy_up(volumes, v, cid, str(rootfs), req.destination)
        source = _subpath(req, v.mountpoint, v.needs_mount) if req.subpath else v.mountpoint
        if not mode and not req.from_image:
            mode = "z"  # what Docker's inspect shows for local volumes from -v and --mount
        options = ["rbind", "rprivate"]
    elif req.type == "bind":
        if req.create_source and not os.path.lexists(req.source):
            try:
                undo.dirs += _make_dirs(req.source)
            except OSError as exc:
                raise req.fail(f"cannot create bind source {req.source}: {exc}") from exc
        if req.create_source:
            out.bind_sources.append(req.source)
        options = ["rbind" if req.recursive else "bind", req.propagation or "rprivate"]
    else:
        source, options = "", list(req.tmpfs_options)
    if req.type != "tmpfs" and not req.rw:
        options.append("ro")
    out.mounts.append(Mount(destination=req.destination, type="tmpfs" if req.type == "tmpfs"
                            else "bind", source=source, options=options))  # fmt: skip
    if req.in_inspect:
        entry: dict[str, Any] = {"Type": req.type}
        if name:
            entry["Name"] = name
        entry.update({"Source": source, "Destination": req.destination})
        if driver:
            entry["Driver"] = driver
        entry.update({"Mode": mode, "RW": req.rw, "Propagation": req.propagation})
        out.inspect.append(entry)


def _copy_up(volumes: VolumeService, v: Volume, cid: str, rootfs: str, dest: str) -> None:
    """Copy the image's DEST into volume V if it is empty (mounting it if it needs that)."""
    if not v.needs_mount:
        copyup.copy_up(rootfs, dest, v.mountpoint, v.name)
        return
    holder = _COPY_UP_ID + cid
    path = volumes.mount(v.name, holder)
    try:
        copyup.copy_up(rootfs, dest, path, v.name)
    finally:
        volumes.unmount(v.name, holder)


def _subpath(req: MountRequest, mountpoint: str, needs_mount: bool) -> str:
    path = os.path.join(mountpoint, req.subpath)
    if needs_mount:
        return path  # checked when the volume is mounted, at start
    real, top = os.path.realpath(path), os.path.realpath(mountpoint)
    if not (real == top or real.startswith(top + "/")):
        raise req.fail(f"subpath {req.subpath!r} escapes the volume")
    if not os.path.exists(real):
        raise req.fail(f"subpath {req.subpath!r} does not exist in the volume")
    return real


def start_mounts(
    resolved: ResolvedMounts, volumes: VolumeService, container_id: str
) -> list[Mount]:
    """Prepare the mounts for a start: create missing -v sources, mount device volumes.

    Returns the runtime mounts for the ContainerSpec. On failure, undoes its mounts.
    """
    for src in resolved.bind_sources:
        try:
            os.makedirs(src, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise InvalidMountConfig(f"cannot create bind source {src}: {exc}") from exc
    done: list[str] = []
    try:
        for name in resolved.volumes:
            volumes.mount(name, container_id)
            done.append(name)
    except BaseException:
        for name in done:
            with contextlib.suppress(VolumeError):
                volumes.unmount(name, container_id)
        raise
    return [Mount(m.destination, m.type, m.source, list(m.options)) for m in resolved.mounts]


def stop_mounts(resolved: ResolvedMounts, volumes: VolumeService, container_id: str) -> None:
    """Undo start_mounts after the container exited (unmount device volumes nobody uses)."""
    for name in resolved.volumes:
        volumes.unmount(name, container_id)


def release_mounts(
    resolved: ResolvedMounts,
    volumes: VolumeService,
    container_id: str,
    remove_anonymous: bool = False,
) -> list[str]:
    """Drop the container's references (at remove); with REMOVE_ANONYMOUS (rm -v, --rm),
    remove its anonymous volumes that no other container uses. Return the ones removed."""
    for name in resolved.volumes:
        volumes.release(name, container_id)
    removed: list[str] = []
    if remove_anonymous:
        for name in resolved.anonymous:
            try:
                volumes.remove(name)
            except VolumeError:
                continue  # in use by another container (--volumes-from), or gone
            removed.append(name)
    return removed
