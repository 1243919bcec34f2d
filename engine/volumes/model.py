"""The volume record: what Docker's local driver keeps about a volume, plus its users.

A volume lives in ROOT/<name>/: `_data` is the data (the Mountpoint, as in
Docker) and `volume.json` this record. `refs` are the containers that use the
volume (create adds, remove drops: a referenced volume cannot be removed);
`mounted_by` are the running ones, kept only for volumes whose driver options
mount a filesystem (type/device/o) on `_data`: it is mounted while non-empty.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shoal.engine.volumes.errors import InvalidVolumeName

LOCAL = "local"
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
META_FILE = "volume.json"
DATA_DIR = "_data"

_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def new_name() -> str:
    """Return a fresh anonymous volume name (64 hex, like a Docker id)."""
    return secrets.token_hex(32)


def validate_name(name: str) -> str:
    """Return NAME if Docker's local driver accepts it; raise InvalidVolumeName otherwise."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidVolumeName(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )
    if len(name) > 255:  # one directory name on the host
        raise InvalidVolumeName(f"create {name[:32]}...: volume name longer than 255 characters")
    return name


def now_rfc3339() -> str:
    """Return the current UTC time as Docker's local driver prints CreatedAt."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Volume:
    """A volume as stored in ROOT/<name>/volume.json."""

    name: str
    mountpoint: str  # ROOT/<name>/_data
    driver: str = LOCAL
    created_at: str = field(default_factory=now_rfc3339)
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    refs: list[str] = field(default_factory=list)  # ids of the containers using it
    mounted_by: list[str] = field(default_factory=list)  # running users (needs_mount only)

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    @property
    def in_use(self) -> bool:
        return bool(self.refs)

    @property
    def dir(self) -> Path:
        return Path(self.mountpoint).parent

    @property
    def needs_mount(self) -> bool:
        """Tell whether the driver options mount a filesystem on the data dir."""
        return bool(self.options.get("type") or self.options.get("device"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "Name": self.name, "Driver": self.driver, "CreatedAt": self.created_at,
            "Labels": self.labels, "Options": self.options, "Refs": self.refs,
            "MountedBy": self.mounted_by,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any], mountpoint: str) -> Volume:
        return cls(
            name=d["Name"], mountpoint=mountpoint, driver=d.get("Driver") or LOCAL,
            created_at=d.get("CreatedAt") or now_rfc3339(), labels=dict(d.get("Labels") or {}),
            options=dict(d.get("Options") or {}), refs=list(d.get("Refs") or []),
            mounted_by=list(d.get("MountedBy") or []),
        )  # fmt: skip

    def inspect(self, size: int | None = None) -> dict[str, Any]:
        """Return Docker's Volume JSON; with SIZE, UsageData too (as /system/df shows it)."""
        out: dict[str, Any] = {
            "CreatedAt": self.created_at,
            "Driver": self.driver,
            "Labels": dict(self.labels),
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": dict(self.options),
            "Scope": "local",
        }
        if size is not None:
            out["UsageData"] = {"Size": size, "RefCount": len(self.refs)}
        return out
