"""The agent's memory across restarts: its assignments and their last states.

Under the state dir (<data_root>/swarm/agent), one pair of files per task:
`tasks/<id>.task` (the Task as last assigned, protobuf) and
`tasks/<id>.status` (the last state this agent reached, protobuf), and one
file per cluster network the node takes part in, `networks/<id>.state` (the
latest NetworkState, protobuf). All are written atomically (temporary file +
rename). After a restart of shoald the
agent reloads them and re-adopts the containers instead of starting new ones
(DESIGN §5). Without a state dir (benchmarks) nothing is kept.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from google.protobuf.message import DecodeError

from shoal.proto.shoal.v1.dispatcher_pb2 import NetworkState
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import TaskStatus

log = logging.getLogger(__name__)


class TaskStorage:
    """Persists tasks and statuses under STATE_DIR/tasks (nothing if STATE_DIR is None)."""

    def __init__(self, state_dir: Path | None) -> None:
        self.dir = state_dir / "tasks" if state_dir is not None else None
        self.net_dir = state_dir / "networks" if state_dir is not None else None
        for d in (self.dir, self.net_dir):
            if d is not None:
                d.mkdir(parents=True, exist_ok=True, mode=0o700)

    def load(self) -> list[tuple[Task, TaskStatus]]:
        """Return every persisted task with its last known status."""
        if self.dir is None:
            return []
        out = []
        for path in sorted(self.dir.glob("*.task")):
            task, status = Task(), TaskStatus()
            try:
                task.ParseFromString(path.read_bytes())
                spath = path.with_suffix(".status")
                status.CopyFrom(task.status)
                if spath.exists():
                    status.ParseFromString(spath.read_bytes())
            except (OSError, DecodeError) as exc:
                log.warning("skipping unreadable task file %s: %s", path, exc)
                continue
            out.append((task, status))
        return out

    def save_task(self, task: Task) -> None:
        if self.dir is not None:
            _write(self.dir / f"{task.id}.task", task.SerializeToString())

    def save_status(self, task_id: str, status: TaskStatus) -> None:
        if self.dir is not None:
            _write(self.dir / f"{task_id}.status", status.SerializeToString())

    def delete(self, task_id: str) -> None:
        if self.dir is not None:
            for suffix in (".task", ".status"):
                with contextlib.suppress(FileNotFoundError):
                    (self.dir / f"{task_id}{suffix}").unlink()


    def load_networks(self) -> dict[str, NetworkState]:
        """Return every persisted NetworkState, by network id."""
        out: dict[str, NetworkState] = {}
        for path in sorted(self.net_dir.glob("*.state")) if self.net_dir is not None else []:
            state = NetworkState()
            try:
                state.ParseFromString(path.read_bytes())
            except (OSError, DecodeError) as exc:
                log.warning("skipping unreadable network state %s: %s", path, exc)
                continue
            if state.network_id == path.stem:
                out[state.network_id] = state
        return out

    def save_network(self, state: NetworkState) -> None:
        if self.net_dir is not None and state.network_id:
            _write(self.net_dir / f"{state.network_id}.state", state.SerializeToString())

    def delete_network(self, network_id: str) -> None:
        if self.net_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.net_dir / f"{network_id}.state").unlink()


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
