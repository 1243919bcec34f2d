"""tmpfs mount options: Docker's defaults, validation and merging (moby MergeTmpfsOptions).

A tmpfs from `--tmpfs /run:size=64m,mode=1777` (HostConfig.Tmpfs) or from
`--mount type=tmpfs,tmpfs-size=..,tmpfs-mode=..` (HostConfig.Mounts) is
mounted noexec,nosuid,nodev unless the options say otherwise; a later option
wins over an earlier one of the same kind.
"""

from __future__ import annotations

import re
from typing import Any

DEFAULTS = ["noexec", "nosuid", "nodev", "rprivate"]

# Flag options the runtime turns into mount flags (engine/runtime/rootfs.py), by kind.
FLAGS = {
    "ro": "rdonly", "rw": "rdonly", "nosuid": "suid", "suid": "suid", "nodev": "dev",
    "dev": "dev", "noexec": "exec", "exec": "exec", "noatime": "atime",
    "relatime": "atime", "strictatime": "atime", "nodiratime": "diratime",
}  # fmt: skip
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_VALUE = {
    "size": re.compile(r"^\d+[kKmMgG%]?$"),
    "nr_blocks": re.compile(r"^\d+[kKmMgG%]?$"),
    "nr_inodes": re.compile(r"^\d+[kKmMgG%]?$"),
    "mode": re.compile(r"^[0-7]{1,4}$"),
    "uid": re.compile(r"^\d+$"),
    "gid": re.compile(r"^\d+$"),
    "mpol": re.compile(r"^[a-z]+(:[0-9,-]+)?$"),
}


class TmpfsOptionError(ValueError):
    """A tmpfs option is unknown or has a bad value (the caller names the flag)."""


def merge(options: list[str]) -> list[str]:
    """Return OPTIONS validated, with duplicates removed: the last of each kind wins."""
    seen: set[str] = set()
    out: list[str] = []
    for opt in reversed(options):
        opt = opt.strip()
        if not opt or opt == "defaults":
            continue
        if opt in FLAGS:
            kind = FLAGS[opt]
        elif opt in PROPAGATIONS:
            kind = "propagation"
        else:
            key, sep, value = opt.partition("=")
            if not sep or key not in _VALUE:
                raise TmpfsOptionError(f"invalid tmpfs option {opt!r}")
            if not _VALUE[key].match(value):
                raise TmpfsOptionError(f"invalid tmpfs option {opt!r}: bad value {value!r}")
            kind = key
        if kind not in seen:
            seen.add(kind)
            out.append(opt)
    return out[::-1]


def from_string(data: str) -> list[str]:
    """Return the mount options of a HostConfig.Tmpfs value ("size=64m,mode=1777")."""
    if not isinstance(data, str):
        raise TmpfsOptionError(f"tmpfs options must be a string, not {data!r}")
    return merge([*DEFAULTS, *data.split(",")])


def size_option(size: int) -> str:
    """Return size=N[kmg] with the largest unit dividing SIZE exactly (as Docker writes it)."""
    for suffix, div in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if size % div == 0:
            return f"size={size // div}{suffix}"
    return f"size={size}"


def from_mount(opts: dict[str, Any] | None, readonly: bool) -> list[str]:
    """Return the mount options of a Mounts entry's TmpfsOptions {SizeBytes, Mode, Options}."""
    raw: list[str] = ["ro"] if readonly else []
    opts = opts or {}
    mode = opts.get("Mode")
    if mode:
        if not isinstance(mode, int) or mode < 0:
            raise TmpfsOptionError(f"invalid tmpfs mode {mode!r}")
        raw.append(f"mode={mode & 0o7777:o}")
    size = opts.get("SizeBytes")
    if size:
        if not isinstance(size, int) or size < 0:
            raise TmpfsOptionError(f"invalid tmpfs size {size!r}: must be a positive integer")
        raw.append(size_option(size))
    for item in opts.get("Options") or []:
        if not isinstance(item, list) or not 1 <= len(item) <= 2:
            raise TmpfsOptionError(f"invalid tmpfs option {item!r}")
        raw.append("=".join(str(x) for x in item))
    return merge([*DEFAULTS, *raw])
