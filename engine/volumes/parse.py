"""Parse HostConfig's Binds, Mounts and Tmpfs into mount requests, as Docker's Linux parser does.

Pure: no volume is created here and nothing is written; only a `--mount
type=bind` source is checked for existence (Docker refuses a missing one,
while `-v` creates it at start). Every error names the field, the flag and
the value it came from.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

from shoal.engine.volumes import tmpfs
from shoal.engine.volumes.errors import InvalidMountConfig
from shoal.engine.volumes.model import LOCAL

PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_RW_MODES = ("rw", "ro")
_LABEL_MODES = ("z", "Z")
_CONSISTENCY_MODES = ("consistent", "cached", "delegated")
_COPY_MODES = ("nocopy",)


@dataclass
class MountRequest:
    """One mount the container asked for, before volumes exist."""

    type: str  # volume | bind | tmpfs
    destination: str
    origin: str  # "HostConfig.Binds (-v) 'data:/x'", for error messages
    source: str = ""  # bind: host path; volume: name ("" for an anonymous volume)
    rw: bool = True
    mode: str = ""  # what inspect shows as Mode
    propagation: str = ""  # what inspect shows as Propagation
    recursive: bool = True  # rbind (bind and volume)
    copy: bool = True  # copy the image's content into an empty volume
    create_source: bool = False  # -v: create a missing bind source
    driver: str = LOCAL
    driver_options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    subpath: str = ""
    tmpfs_options: list[str] = field(default_factory=list)
    in_inspect: bool = True  # HostConfig.Tmpfs mounts are not listed in inspect's Mounts
    from_image: bool = False  # an anonymous volume for the image's Config.Volumes

    @property
    def anonymous(self) -> bool:
        return self.type == "volume" and not self.source

    def fail(self, reason: str) -> InvalidMountConfig:
        return InvalidMountConfig(f"{self.origin}: {reason}")


def clean_path(p: str) -> str:
    """Return P cleaned like Go's path.Clean ("//a/./b/" -> "/a/b")."""
    p = posixpath.normpath(p)
    return "/" + p.lstrip("/") if p.startswith("/") else p


def check_destination(dest: str, origin: str) -> str:
    """Return DEST cleaned; raise if it is empty, relative or "/"."""
    if not isinstance(dest, str) or not dest:
        raise InvalidMountConfig(f"{origin}: field Target must not be empty")
    if not dest.startswith("/"):
        raise InvalidMountConfig(
            f"{origin}: invalid mount path: '{dest}' mount path must be absolute"
        )
    dest = clean_path(dest)
    if dest == "/":
        raise InvalidMountConfig(f"{origin}: invalid specification: destination can't be '/'")
    return dest


def _valid_mode(mode: str) -> bool:
    counts = [0, 0, 0, 0, 0]
    for opt in mode.split(","):
        for i, group in enumerate(
            (_RW_MODES, _LABEL_MODES, PROPAGATIONS, _COPY_MODES, _CONSISTENCY_MODES)
        ):
            if opt in group:
                counts[i] += 1
                break
        else:
            return False
    return max(counts) <= 1


def parse_bind(raw: Any, volume_driver: str = "") -> MountRequest:
    """Parse one HostConfig.Binds entry: NAME:/dst[:mode], /host:/dst[:mode] or /dst."""
    origin = f"HostConfig.Binds (-v) {raw!r}"
    if not isinstance(raw, str):
        raise InvalidMountConfig(f"{origin}: a bind must be a string")
    parts = raw.split(":")
    if not parts[0] or len(parts) > 3:
        raise InvalidMountConfig(f"{origin}: invalid volume specification")
    mode = ""
    if len(parts) == 1:
        source, dest = "", parts[0]
    elif len(parts) == 2:
        if _valid_mode(parts[1]):  # "/foo:rw": a mode without a source
            raise InvalidMountConfig(f"{origin}: invalid volume specification")
        source, dest = parts
    else:
        source, dest, mode = parts
    if mode and not _valid_mode(mode):
        raise InvalidMountConfig(f"{origin}: invalid mode: {mode}")
    modes = mode.split(",") if mode else []
    req = MountRequest(
        type="bind" if source.startswith("/") else "volume",
        destination=check_destination(dest, origin),
        origin=origin,
        source=source,
        rw="ro" not in modes,
        mode=mode,
        driver=volume_driver or LOCAL,
    )
    propagation = next((m for m in modes if m in PROPAGATIONS), "")
    if req.type == "bind":
        if "nocopy" in modes:
            raise req.fail("nocopy applies to volumes, not to bind mounts")
        req.source = clean_path(source)
        req.propagation = propagation or "rprivate"
        req.create_source = True
    else:
        if propagation:
            raise req.fail(f"propagation mode {propagation} applies to bind mounts, not volumes")
        req.copy = "nocopy" not in modes
    return req


def _lower_keys(d: Any, origin: str, what: str) -> dict[str, Any]:
    """Return D with lower-cased keys (Go's JSON decoding ignores case); {} for None."""
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise InvalidMountConfig(f"{origin}: {what} must be an object, not {d!r}")
    return {str(k).lower(): v for k, v in d.items()}


def _describe(m: dict[str, Any]) -> str:
    keys = (("type", "type"), ("source", "source"), ("target", "target"))
    text = ",".join(f"{name}={m[k]}" for k, name in keys if m.get(k))
    return text + (",readonly" if m.get("readonly") else "")


def parse_mount(raw: Any) -> MountRequest:
    """Parse one HostConfig.Mounts entry (the API form of --mount)."""
    m = _lower_keys(raw, f"HostConfig.Mounts (--mount) {raw!r}", "a mount")
    kind = m.get("type") or ""
    origin = f"HostConfig.Mounts (--mount) '{_describe(m)}'"
    bind_opts = _lower_keys(m.get("bindoptions"), origin, "BindOptions")
    vol_opts = _lower_keys(m.get("volumeoptions"), origin, "VolumeOptions")
    tmpfs_opts = m.get("tmpfsoptions") or None
    source = m.get("source") or ""
    if not isinstance(source, str):
        raise InvalidMountConfig(f"{origin}: Source must be a string")
    readonly = bool(m.get("readonly"))
    if kind not in ("bind", "volume", "tmpfs"):
        why = "mount type unknown" if kind in ("", None) else f"mount type {kind!r} unknown"
        raise InvalidMountConfig(f'{origin}: invalid mount config for type "{kind}": {why}')
    dest = check_destination(m.get("target") or "", origin)
    req = MountRequest(type=kind, destination=dest, origin=origin, source=source, rw=not readonly)
    allowed = {"bind": "BindOptions", "volume": "VolumeOptions", "tmpfs": "TmpfsOptions"}[kind]
    given = {"BindOptions": bind_opts, "VolumeOptions": vol_opts, "TmpfsOptions": tmpfs_opts}
    extra = [name for name, v in given.items() if v and name != allowed]
    if extra:
        raise req.fail(
            f'invalid mount config for type "{kind}": field {extra[0]} must not be specified'
        )
    if kind == "bind":
        _bind_options(req, bind_opts)
    elif kind == "volume":
        _volume_options(req, vol_opts, readonly)
    else:
        if source:
            raise req.fail(
                'invalid mount config for type "tmpfs": field Source must not be specified'
            )
        try:
            req.tmpfs_options = tmpfs.from_mount(_lower_tmpfs(tmpfs_opts), readonly)
        except tmpfs.TmpfsOptionError as exc:
            raise req.fail(str(exc)) from None
    return req


def _bind_options(req: MountRequest, opts: dict[str, Any]) -> None:
    if not req.source:
        raise req.fail('invalid mount config for type "bind": field Source must not be empty')
    if not req.source.startswith("/"):
        raise req.fail(f"invalid mount path: '{req.source}' mount path must be absolute")
    req.source = clean_path(req.source)
    propagation = opts.get("propagation") or ""
    if propagation and propagation not in PROPAGATIONS:
        raise req.fail(f"invalid propagation mode: {propagation}")
    if opts.get("readonlyforcerecursive"):
        raise req.fail("recursive read-only bind mounts (ReadOnlyForceRecursive) are not supported")
    req.propagation = propagation or "rprivate"
    req.recursive = not opts.get("nonrecursive")
    if not os.path.lexists(req.source):
        if not opts.get("createmountpoint"):
            raise req.fail(f"bind source path does not exist: {req.source}")
        req.create_source = True


def _volume_options(req: MountRequest, opts: dict[str, Any], readonly: bool) -> None:
    if req.anonymous and readonly:
        raise req.fail("must not set ReadOnly mode when using anonymous volumes")
    req.copy = not opts.get("nocopy")
    driver = _lower_keys(opts.get("driverconfig"), req.origin, "DriverConfig")
    req.driver = driver.get("name") or LOCAL
    for key, attr in (("options", "driver_options"), ("labels", "labels")):
        value = (driver if key == "options" else opts).get(key) or {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise req.fail(f"volume {key} must map strings to strings, not {value!r}")
        setattr(req, attr, dict(value))
    subpath = opts.get("subpath") or ""
    if subpath:
        if not isinstance(subpath, str) or subpath.startswith("/") or ".." in subpath.split("/"):
            raise req.fail(f"subpath {subpath!r} must be relative and must not escape the volume")
        req.subpath = posixpath.normpath(subpath)
        req.copy = False


def _lower_tmpfs(opts: Any) -> dict[str, Any] | None:
    if opts is None:
        return None
    if not isinstance(opts, dict):
        raise tmpfs.TmpfsOptionError(f"TmpfsOptions must be an object, not {opts!r}")
    names = {"sizebytes": "SizeBytes", "mode": "Mode", "options": "Options"}
    return {names.get(str(k).lower(), str(k)): v for k, v in opts.items()}


def parse_tmpfs(dest: Any, options: Any) -> MountRequest:
    """Parse one HostConfig.Tmpfs entry ({"/run": "size=64m,mode=1777"})."""
    origin = f"HostConfig.Tmpfs (--tmpfs) '{dest}:{options}'" if options else (
        f"HostConfig.Tmpfs (--tmpfs) '{dest}'"
    )
    req = MountRequest(type="tmpfs", destination=check_destination(dest, origin), origin=origin,
                       in_inspect=False)  # fmt: skip
    try:
        req.tmpfs_options = tmpfs.from_string(options or "")
    except tmpfs.TmpfsOptionError as exc:
        raise req.fail(str(exc)) from None
    req.rw = "ro" not in req.tmpfs_options
    return req
