"""Parse ``-v/--volume``, ``--mount`` and ``--tmpfs`` values as the docker CLI does.

``-v`` follows docker's compose loader (ParseVolume): ``SRC:DST[:MODE]`` binds a
host path (SRC starts with ``/``, ``.`` or ``~``) or mounts a named volume, and
``-v DST`` alone asks for an anonymous volume. ``--mount`` is opts.MountOpt: a
CSV of ``key=value`` fields producing one HostConfig.Mounts entry. Values the
daemon would refuse anyway (a relative target, an unknown mode or mount type)
are refused here, naming the flag and value.
"""

from __future__ import annotations

import os

from .flags import _FALSE, _TRUE
from .opts import parse_size, split_csv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Modes the daemon accepts after SRC:DST: (volume/mounts/parser_linux.go)
_MODES = frozenset({"rw", "ro", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared",
                    "slave", "rslave", "consistent", "cached", "delegated"})
_MOUNT_TYPES = ("bind", "volume", "tmpfs")


def _check_target(target: str) -> None:
    if not target.startswith("/"):
        raise ValueError(f"invalid mount path: '{target}' mount path must be absolute")


def split_volume(spec: str) -> tuple[str, str, str]:
    """Return (source, target, mode) of a ``-v`` value (docker's ParseVolume, Linux rules)."""
    if not spec:
        raise ValueError("invalid empty volume spec")
    if len(spec) <= 2:
        return "", spec, ""
    source = target = mode = ""
    buf = ""
    for ch in spec + "\0":
        if ch == ":" and len(buf) == 1 and buf.isalpha():
            buf += ch  # a Windows drive letter, as docker reads it on every platform
        elif ch in (":", "\0"):
            if not buf:
                raise ValueError(f"invalid spec: {spec}: empty section between colons")
            if not source and ch == "\0":
                target = buf
            elif not source:
                source = buf
            elif not target:
                target = buf
            elif ch == ":":
                raise ValueError(f"invalid spec: {spec}: too many colons")
            else:
                mode = buf
            buf = ""
        else:
            buf += ch
    return source, target, mode


def is_file_path(source: str) -> bool:
    """Tell whether a ``-v`` source is a host path (a bind) rather than a volume name."""
    return source[:1] in (".", "/", "~")


def parse_volume(spec: str) -> tuple[str | None, str]:
    """Return (HostConfig.Binds entry or None for an anonymous volume, target)."""
    source, target, mode = split_volume(spec)
    _check_target(target)
    if mode and not all(m in _MODES for m in mode.split(",")):
        raise ValueError(f"invalid mode: {mode}")
    if not source:
        return None, target
    if is_file_path(source) and (source.startswith("./") or source == "."):
        rest = spec.partition(":")[2]
        return f"{os.path.abspath(source)}:{rest}", target
    return spec, target


def _bool(key: str, val: str) -> bool:
    if val in _TRUE:
        return True
    if val in _FALSE:
        return False
    raise ValueError(f"invalid value for {key}: {val}")


def parse_mount(value: str) -> dict[str, Any]:
    """Return the HostConfig.Mounts entry for one ``--mount`` value (empty fields left out)."""
    mount: dict[str, Any] = {"Type": "volume"}

    def section(name: str) -> dict[str, Any]:
        if name not in mount:
            # docker always gives VolumeOptions a DriverConfig: it is sent as {} when empty
            mount[name] = {"DriverConfig": {}} if name == "VolumeOptions" else {}
        return mount[name]

    for field in split_csv(value):
        key, eq, val = field.partition("=")
        key = key.lower()
        if not eq:
            if key in ("readonly", "ro"):
                mount["ReadOnly"] = True
            elif key == "volume-nocopy":
                section("VolumeOptions")["NoCopy"] = True
            elif key == "bind-nonrecursive":
                section("BindOptions")["NonRecursive"] = True
            else:
                raise ValueError(f"invalid field '{field}' must be a key=value pair")
            continue
        if key == "type":
            mount["Type"] = val.lower()
        elif key in ("source", "src"):
            mount["Source"] = os.path.abspath(val) if val.startswith("./") or val == "." else val
        elif key in ("target", "dst", "destination"):
            mount["Target"] = val
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = _bool(key, val)
        elif key == "consistency":
            mount["Consistency"] = val.lower()
        elif key == "bind-propagation":
            section("BindOptions")["Propagation"] = val.lower()
        elif key == "bind-nonrecursive":
            section("BindOptions")["NonRecursive"] = _bool(key, val)
        elif key == "volume-nocopy":
            section("VolumeOptions")["NoCopy"] = _bool(key, val)
        elif key == "volume-label":
            k, _, v = val.partition("=")
            if k:
                section("VolumeOptions").setdefault("Labels", {})[k] = v
        elif key == "volume-driver":
            section("VolumeOptions").setdefault("DriverConfig", {})["Name"] = val
        elif key == "volume-opt":
            k, _, v = val.partition("=")
            opts = section("VolumeOptions").setdefault("DriverConfig", {}).setdefault(
                "Options", {})
            if k:
                opts[k] = v
        elif key == "tmpfs-size":
            try:
                section("TmpfsOptions")["SizeBytes"] = parse_size(val)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {val}") from None
        elif key == "tmpfs-mode":
            if not val or any(c not in "01234567" for c in val) or int(val, 8) >= 1 << 32:
                raise ValueError(f"invalid value for {key}: {val}")
            section("TmpfsOptions")["Mode"] = int(val, 8)
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    kind = mount["Type"]
    if not kind:
        raise ValueError("type is required")
    if not mount.get("Target"):
        raise ValueError("target is required")
    for name, prefix, want in (("VolumeOptions", "volume", "volume"),
                               ("BindOptions", "bind", "bind"),
                               ("TmpfsOptions", "tmpfs", "tmpfs")):
        if name in mount and kind != want:
            raise ValueError(f"cannot mix '{prefix}-*' options with mount type '{kind}'")
    if kind not in _MOUNT_TYPES:
        raise ValueError(f"invalid mount type '{kind}': must be bind, volume or tmpfs")
    if kind == "bind" and not mount.get("Source"):
        raise ValueError('invalid mount config for type "bind": field Source must not be empty')
    if kind == "tmpfs" and mount.get("Source"):
        raise ValueError('invalid mount config for type "tmpfs": field Source must not be '
                         "specified")
    _check_target(mount["Target"])
    return _omit_empty(mount)


def _omit_empty(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop false, zero and empty fields (every Mount field is omitempty) but keep {} sections."""
    out: dict[str, Any] = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            v = {ik: iv for ik, iv in _omit_empty(v).items()
                 if not (ik in ("Labels", "Options") and not iv)}
        elif not v:
            continue
        out[k] = v
    return out


def parse_tmpfs(value: str) -> tuple[str, str]:
    """Return (path, mount options) of ``--tmpfs /path[:opts]`` for HostConfig.Tmpfs."""
    path, _, options = value.partition(":")
    _check_target(path)
    return path, options
