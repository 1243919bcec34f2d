"""The runtime spec: everything the shim needs to start one container process.

Stdlib only: the shim (a separate, minimal Python process) loads this module
by path, so it must not import anything from shoal.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Resources:
    """cgroup limits; None means unlimited / kernel default."""

    memory: int | None = None  # bytes (memory.limit_in_bytes / memory.max)
    cpu_quota: int | None = None  # microseconds per period (cpu.cfs_quota_us / cpu.max)
    cpu_period: int = 100_000
    cpu_shares: int | None = None  # v1 cpu.shares; mapped to cpu.weight on v2
    pids_limit: int | None = None  # pids.max


@dataclass
class Mount:
    """An extra mount inside the container (bind, tmpfs, ...), applied before pivot_root."""

    destination: str
    type: str = "bind"  # bind | tmpfs
    source: str = ""
    options: list[str] = field(default_factory=list)  # ro, nosuid, nodev, size=..., mode=...


@dataclass
class Process:
    """The process to exec (the container's init, or an exec'd process)."""

    args: list[str]
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    tty: bool = False
    stdin: bool = False  # keep stdin open (docker -i)
    capabilities: list[str] | None = None  # None: Docker's default set
    no_new_privileges: bool = True
    console_height: int = 24
    console_width: int = 80


@dataclass
class ContainerSpec:
    """What the shim starts: rootfs (already mounted), namespaces, cgroup, process."""

    id: str
    rootfs: str  # an already mounted directory (the overlay)
    process: Process
    hostname: str = ""
    # "new" for a fresh namespace, "host" to share the host's, or a path to join.
    net_namespace: str = "new"
    readonly_rootfs: bool = False
    mounts: list[Mount] = field(default_factory=list)
    resources: Resources = field(default_factory=Resources)
    cgroup_path: str = ""  # relative cgroup path, e.g. "shoal/<id>"
    log_path: str = ""  # json-file log the shim writes
    log_max_size: int = 0  # 0: unbounded

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ContainerSpec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContainerSpec:
        d = dict(d)
        d["process"] = Process(**d["process"])
        d["mounts"] = [Mount(**m) for m in d.get("mounts", [])]
        d["resources"] = Resources(**d.get("resources", {}))
        return cls(**d)
