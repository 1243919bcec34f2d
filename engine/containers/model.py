"""The container record: what was asked (Config, HostConfig) and what is (State).

Field names follow the Docker Engine API so that inspect is a projection of
the record, not a translation.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def now_rfc3339() -> str:
    """Return the current UTC time in Docker's RFC 3339 nano format."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class State:
    """The observed state (Docker's ContainerState)."""

    Status: str = "created"  # created | running | exited | removing | dead
    Running: bool = False
    Paused: bool = False
    Restarting: bool = False
    OOMKilled: bool = False
    Dead: bool = False
    Pid: int = 0
    ExitCode: int = 0
    Error: str = ""
    StartedAt: str = ZERO_TIME
    FinishedAt: str = ZERO_TIME
    Health: dict[str, Any] | None = None

    def set_running(self, pid: int, started_at: str) -> None:
        self.Status, self.Running, self.Pid = "running", True, pid
        self.StartedAt, self.ExitCode, self.Error, self.OOMKilled = started_at, 0, "", False

    def set_exited(
        self, code: int, finished_at: str, *, oom: bool = False, error: str = ""
    ) -> None:
        self.Status, self.Running, self.Pid = "exited", False, 0
        self.ExitCode, self.FinishedAt, self.OOMKilled, self.Error = code, finished_at, oom, error


@dataclass
class Container:
    """A container as stored under <data_root>/containers/<id>/container.json."""

    Id: str
    Name: str
    Image: str  # the image id (sha256:...)
    ImageRef: str  # the reference the user gave
    Config: dict[str, Any]
    HostConfig: dict[str, Any]
    Created: str = field(default_factory=now_rfc3339)
    Path: str = ""
    Args: list[str] = field(default_factory=list)
    State: State = field(default_factory=State)
    RestartCount: int = 0
    LogPath: str = ""
    Rootfs: str = ""
    Driver: str = "overlay2"
    ExecIDs: list[str] = field(default_factory=list)
    NetworkingConfig: dict[str, Any] = field(default_factory=dict)
    Mounts: list[dict[str, Any]] = field(default_factory=list)
    AnonymousVolumes: list[str] = field(default_factory=list)
    MountsResolved: dict[str, Any] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.Id[:12]

    @property
    def running(self) -> bool:
        return self.State.Running

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Container:
        d = json.loads(text)
        d["State"] = State(**d["State"])
        return cls(**d)
