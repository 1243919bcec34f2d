"""Configuration of the engine and of shoald."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EngineConfig:
    """Where the engine keeps its state and how it serves it.

    data_root:     persistent state (images, layers, containers); like /var/lib/docker.
    run_root:      runtime state (socket, shim sockets, pid files); like /run/docker.
    socket:        the REST API's UNIX socket (mode 0600 root only).
    cgroup_parent: cgroup under which each container gets <cgroup_parent>/<id>.
    stop_timeout:  default grace period in seconds between the stop signal and SIGKILL.
    insecure_registries: registries ("host:port" or a CIDR) reached over plain HTTP,
                   like dockerd's --insecure-registry (loopback always is).
    certs_dir:     per-registry TLS files, <certs_dir>/<host:port>/ca.crt (Docker's certs.d).
    """

    data_root: Path = Path("/var/lib/shoal")
    run_root: Path = Path("/run/shoal")
    socket: Path | None = None
    cgroup_parent: str = "shoal"
    stop_timeout: int = 10
    tcp: str | None = None
    insecure_registries: list[str] = field(default_factory=list)
    certs_dir: Path = Path("/etc/shoal/certs.d")
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_root = Path(self.data_root)
        self.run_root = Path(self.run_root)
        if self.socket is None:
            self.socket = self.run_root / "shoal.sock"
        self.socket = Path(self.socket)
        self.certs_dir = Path(self.certs_dir)

    @classmethod
    def from_env(cls) -> EngineConfig:
        """Build a config from SHOAL_DATA_ROOT / SHOAL_RUN_ROOT / SHOAL_CGROUP_PARENT."""
        kw: dict[str, object] = {}
        if v := os.environ.get("SHOAL_DATA_ROOT"):
            kw["data_root"] = Path(v)
        if v := os.environ.get("SHOAL_RUN_ROOT"):
            kw["run_root"] = Path(v)
        if v := os.environ.get("SHOAL_CGROUP_PARENT"):
            kw["cgroup_parent"] = v
        if v := os.environ.get("SHOAL_CERTS_DIR"):
            kw["certs_dir"] = Path(v)
        return cls(**kw)  # type: ignore[arg-type]

    @property
    def images_root(self) -> Path:
        return self.data_root / "images"

    @property
    def snapshots_root(self) -> Path:
        return self.data_root / "snapshots"

    @property
    def containers_root(self) -> Path:
        return self.data_root / "containers"

    @property
    def shims_root(self) -> Path:
        return self.run_root / "shims"
