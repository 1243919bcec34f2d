"""VolumeService: Docker's volume store with the local driver, one directory per volume.

Layout under ROOT (<data_root>/volumes, like /var/lib/docker/volumes):

    <name>/_data          the data, bind-mounted into containers (the Mountpoint)
    <name>/volume.json    name, driver, labels, options, created time, users
    .trash-<name>-<hex>   a volume being deleted (renamed first, so it vanishes at once)

The container service references a volume for each container that mounts it
(`acquire` at create, `release` at remove); references are persisted with the
volume, so `docker volume rm` refuses an in-use volume after a daemon restart
too. Methods are thread-safe and blocking (callers run them in a thread).
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from shoal.engine.volumes import filters as flt
from shoal.engine.volumes import local
from shoal.engine.volumes.errors import (
    DriverNotFound,
    InvalidVolumeOption,
    VolumeError,
    VolumeInUse,
    VolumeNotFound,
    VolumeSystemError,
)
from shoal.engine.volumes.model import (
    DATA_DIR,
    LOCAL,
    META_FILE,
    Volume,
    new_name,
    validate_name,
)

log = logging.getLogger(__name__)

_TRASH = ".trash-"


def _copy(v: Volume) -> Volume:
    return dataclasses.replace(
        v, labels=dict(v.labels), options=dict(v.options), refs=list(v.refs),
        mounted_by=list(v.mounted_by),
    )  # fmt: skip


def check_driver(driver: str | None) -> str:
    """Return DRIVER ("local" for empty); raise DriverNotFound for any other."""
    driver = driver or LOCAL
    if driver != LOCAL:
        raise DriverNotFound(
            f'error looking up volume plugin {driver}: plugin "{driver}" not found '
            '(only the "local" driver is supported)'
        )
    return driver


def _str_map(value: Mapping[str, Any] | None, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidVolumeOption(f"volume {what} must map strings to strings, not {value!r}")
    return dict(value)


class VolumeService:
    """Create, list, reference, mount and remove local volumes under ROOT."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._vols: dict[str, Volume] = {}
        self._load()

    # ---- persistence ----------------------------------------------------------------
    def _load(self) -> None:
        for d in sorted(self.root.iterdir()):
            if d.name.startswith(_TRASH):
                try:
                    local.remove_tree(d)
                except VolumeSystemError as exc:
                    log.warning("leaving %s: %s", d, exc)
                continue
            if d.name.startswith(".") or not d.is_dir():
                continue
            meta = d / META_FILE
            try:
                v = Volume.from_dict(json.loads(meta.read_text()), str(d / DATA_DIR))
            except FileNotFoundError:
                self._drop_half_created(d)
                continue
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning("skipping unreadable volume record %s: %s", meta, exc)
                continue
            if v.name != d.name:
                log.warning("skipping volume record %s: it names %r", meta, v.name)
                continue
            self._vols[v.name] = v

    def _drop_half_created(self, d: Path) -> None:
        """Remove a directory a crash left between mkdir and the record (nothing else in it)."""
        data = d / DATA_DIR
        with contextlib.suppress(OSError):
            if {p.name for p in d.iterdir()} <= {DATA_DIR} and not any(data.iterdir()):
                data.rmdir()
                d.rmdir()
                return
        log.warning("skipping %s: a volume directory without %s", d, META_FILE)

    def _save(self, v: Volume) -> None:
        path = v.dir / META_FILE
        tmp = path.with_name(f".{META_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(json.dumps(v.to_dict(), indent=1, sort_keys=True))
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise VolumeSystemError(f"write volume {v.name}: {exc}") from exc

    # ---- create / get / list ----------------------------------------------------------
    def create(
        self,
        name: str | None = None,
        driver: str | None = LOCAL,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        *,
        reference: str | None = None,
    ) -> Volume:
        """Create volume NAME (a random one when None); return the existing one if it exists.

        With REFERENCE (a container id), the volume is referenced by it in the same step,
        so that no prune can remove it in between.
        """
        return self.ensure(name, driver, labels, options, reference=reference)[0]

    def ensure(
        self,
        name: str | None = None,
        driver: str | None = LOCAL,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        *,
        reference: str | None = None,
    ) -> tuple[Volume, bool]:
        """Do what create() does; also tell whether the volume was created by this call."""
        driver = check_driver(driver)
        name = validate_name(name) if name is not None else new_name()
        labels_ = _str_map(labels, "labels")
        options_ = local.validate_options(_str_map(options, "options"))
        with self._lock:
            v = self._vols.get(name)
            created = v is None
            if v is None:
                v = self._make(name, driver, labels_, options_)
            if reference and reference not in v.refs:
                v.refs.append(reference)
                self._save(v)
            return _copy(v), created

    def _make(
        self, name: str, driver: str, labels: dict[str, str], options: dict[str, str]
    ) -> Volume:
        d = self.root / name
        try:
            d.mkdir(mode=0o701)
        except FileExistsError:
            # A directory without a readable record: never reuse someone's data.
            raise VolumeSystemError(
                f"create {name}: {d} exists but holds no volume record"
            ) from None
        except OSError as exc:
            raise VolumeSystemError(f"create {name}: {exc}") from exc
        v = Volume(name=name, mountpoint=str(d / DATA_DIR), driver=driver, labels=labels,
                   options=options)  # fmt: skip
        try:
            (d / DATA_DIR).mkdir(mode=0o755)
            self._save(v)
        except BaseException as exc:
            local.remove_tree(d)
            if isinstance(exc, OSError):
                raise VolumeSystemError(f"create {name}: {exc}") from exc
            raise
        self._vols[name] = v
        return v

    def get(self, name: str) -> Volume:
        """Return volume NAME (exact name, as Docker); raise VolumeNotFound."""
        with self._lock:
            v = self._vols.get(name)
            if v is None:
                raise VolumeNotFound(f"get {name}: no such volume")
            return _copy(v)

    def exists(self, name: str) -> bool:
        with self._lock:
            return name in self._vols

    def list(self, filters: Mapping[str, Any] | str | None = None) -> list[Volume]:
        """Return the volumes passing FILTERS (dangling, driver, label, name), sorted by name."""
        ok = flt.list_predicate(flt.normalize(filters, flt.LIST_FILTERS))
        with self._lock:
            return [_copy(v) for _, v in sorted(self._vols.items()) if ok(v)]

    def size(self, name: str) -> int:
        """Return the bytes of the files in volume NAME."""
        return local.tree_size(self.get(name).mountpoint)

    def inspect_json(self, v: Volume | str, usage: bool = False) -> dict[str, Any]:
        """Return Docker's Volume JSON for V; with USAGE, UsageData {Size, RefCount} too."""
        if isinstance(v, str):
            v = self.get(v)
        return v.inspect(local.tree_size(v.mountpoint) if usage else None)

    # ---- remove / prune -------------------------------------------------------------
    def remove(self, name: str, force: bool = False) -> None:
        """Remove volume NAME and its data; refused (VolumeInUse) while containers use it.

        FORCE, as in Docker, only makes a missing volume no error.
        """
        with self._lock:
            v = self._vols.get(name)
            if v is None:
                if force:
                    return
                raise VolumeNotFound(f"get {name}: no such volume")
            if v.refs:
                raise VolumeInUse(name, v.refs)
            if v.needs_mount:
                local.unmount(v.mountpoint)
            left = local.mounts_below(str(v.dir))
            if left:
                raise VolumeSystemError(f"remove {name}: still mounted: {', '.join(left)}")
            trash = self.root / f"{_TRASH}{name}-{secrets.token_hex(4)}"
            try:
                os.rename(v.dir, trash)
            except OSError as exc:
                raise VolumeSystemError(f"remove {name}: {exc}") from exc
            del self._vols[name]
        local.remove_tree(trash)

    def prune(
        self, filters: Mapping[str, Any] | str | None = None
    ) -> tuple[builtins.list[str], int]:
        """Remove unused volumes (anonymous ones only, unless all=true); return names, bytes."""
        ok = flt.prune_predicate(flt.normalize(filters, flt.PRUNE_FILTERS))
        with self._lock:
            candidates = [v.name for v in self._vols.values() if ok(v)]
        removed: builtins.list[str] = []
        reclaimed = 0
        for name in sorted(candidates):
            try:
                size = local.tree_size(self.get(name).mountpoint)
                self.remove(name)  # checks again that no container took it meanwhile
            except VolumeError as exc:
                log.warning("prune: cannot remove volume %s: %s", name, exc)
                continue
            removed.append(name)
            reclaimed += size
        return removed, reclaimed

    # ---- references and mounts --------------------------------------------------------
    def acquire(self, name: str, container_id: str) -> Volume:
        """Record that CONTAINER_ID uses volume NAME (idempotent); raise VolumeNotFound."""
        with self._lock:
            v = self._vols.get(name)
            if v is None:
                raise VolumeNotFound(f"get {name}: no such volume")
            if container_id not in v.refs:
                v.refs.append(container_id)
                self._save(v)
            return _copy(v)

    def release(self, name: str, container_id: str) -> None:
        """Drop CONTAINER_ID's reference (and mount) of NAME; a missing volume is fine."""
        with self._lock:
            v = self._vols.get(name)
            if v is None or (container_id not in v.refs and container_id not in v.mounted_by):
                return
            if container_id in v.mounted_by:
                self._unmount_locked(v, container_id)
            if container_id in v.refs:
                v.refs.remove(container_id)
            self._save(v)

    def users(self, name: str) -> builtins.list[str]:
        """Return the ids of the containers referencing NAME."""
        return self.get(name).refs

    def mount(self, name: str, container_id: str) -> str:
        """Make NAME's data ready for CONTAINER_ID's start; return the host path to bind.

        Mounts the filesystem of the driver options on first use; for a plain volume it
        only checks that the volume exists (and records nothing).
        """
        with self._lock:
            v = self._vols.get(name)
            if v is None:
                raise VolumeNotFound(f"get {name}: no such volume")
            if not v.needs_mount:
                return v.mountpoint
            if not local.is_mounted(v.mountpoint):
                local.mount(v.options, v.mountpoint)
            if container_id not in v.mounted_by:
                v.mounted_by.append(container_id)
                self._save(v)
            return v.mountpoint

    def unmount(self, name: str, container_id: str) -> None:
        """Drop CONTAINER_ID's mount of NAME (it stopped); unmount after the last user."""
        with self._lock:
            v = self._vols.get(name)
            if v is None or container_id not in v.mounted_by:
                return
            self._unmount_locked(v, container_id)
            self._save(v)

    def _unmount_locked(self, v: Volume, container_id: str) -> None:
        v.mounted_by.remove(container_id)
        if v.needs_mount and not v.mounted_by:
            local.unmount(v.mountpoint)

    def reconcile(
        self, users: Mapping[str, Iterable[str]], running: Iterable[str] | None = None
    ) -> None:
        """Rebuild references from the containers (at daemon start), as Docker does.

        USERS maps every existing container id to the volume names it mounts; references
        of other containers are dropped. With RUNNING, mounts of stopped containers are
        dropped too (and device-backed volumes nobody runs with are unmounted).
        """
        uses = {cid: set(names) for cid, names in users.items()}
        wanted: dict[str, list[str]] = {}
        for cid, names in uses.items():
            for n in sorted(names):
                wanted.setdefault(n, []).append(cid)
        live = set(running) if running is not None else None
        with self._lock:
            for name, v in self._vols.items():
                refs = [c for c in v.refs if name in uses.get(c, ())]
                refs += [c for c in wanted.get(name, []) if c not in refs]
                mounted = v.mounted_by if live is None else [c for c in v.mounted_by if c in live]
                if refs == v.refs and mounted == v.mounted_by:
                    continue
                v.refs, v.mounted_by = refs, list(mounted)
                if v.needs_mount and not v.mounted_by:
                    try:
                        local.unmount(v.mountpoint)
                    except VolumeSystemError as exc:
                        log.warning("reconcile: %s", exc)
                self._save(v)
            for name in set(wanted) - set(self._vols):
                log.warning("containers %s use volume %s, which is gone", wanted[name], name)
