"""Read what a shim leaves on disk: the state of its process, alive or not.

A state dir (``<shims_root>/<id>/``) holds:

    config.json    the ContainerSpec the shim ran (spec.py)
    runtime.json   what the daemon added: kind, cgroup files, exec target
    state.json     written by the shim (atomically) at created, running, exited
    shim.sock      the shim's socket while it lives (protocol.py)
    shim.log       the shim's own stderr (tracebacks only)

The shim writes state.json; the daemon only reads it, and when the shim died
without saying so, this module works out what can still be known.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LIVE = ("created", "running")


@dataclass
class ShimState:
    """Where a container (or exec) process stands.

    status: "created" (blocked before exec), "running", "exited", or "unknown"
    (no state yet, or unreadable). Times are RFC 3339 UTC with nanoseconds,
    "" until they happen. exit_code is 128+N for a process killed by signal N.
    """

    id: str
    status: str
    pid: int = 0
    exit_code: int | None = None
    started_at: str = ""
    finished_at: str = ""
    oom_killed: bool = False
    error: str = ""
    shim_pid: int = 0
    container_id: str = ""  # an exec's container; "" for a container
    created_at: str = ""

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ShimState:
        """Build a state from a state.json document."""
        return cls(
            id=doc.get("id", ""),
            status=doc.get("status", "unknown"),
            pid=int(doc.get("pid") or 0),
            exit_code=doc.get("exit_code"),
            started_at=doc.get("started_at") or "",
            finished_at=doc.get("finished_at") or "",
            oom_killed=bool(doc.get("oom_killed")),
            error=doc.get("error") or "",
            shim_pid=int(doc.get("shim_pid") or 0),
            container_id=doc.get("container_id") or "",
            created_at=doc.get("created_at") or "",
        )


def proc_stat(pid: int) -> tuple[str, int] | None:
    """Return (state letter, start time in ticks) of PID, or None if there is no such process."""
    if pid <= 0:
        return None
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[19])


def alive(pid: int, start: int) -> bool:
    """Tell whether PID is still the process that started at START (and not a zombie)."""
    info = proc_stat(pid)
    return info is not None and info[1] == start and info[0] not in ("Z", "X")


def read_doc(state_dir: Path) -> dict[str, Any] | None:
    """Return the raw state.json document, or None if there is none yet."""
    try:
        doc: dict[str, Any] = json.loads((state_dir / "state.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return doc


def read_state(state_dir: Path) -> ShimState:
    """Return the state of the process of STATE_DIR, checking that its shim still lives."""
    doc = read_doc(state_dir)
    if doc is None:
        return ShimState(id=state_dir.name, status="unknown")
    if doc.get("status") in LIVE and not alive(doc.get("shim_pid", 0), doc.get("shim_start", 0)):
        doc = read_doc(state_dir) or doc  # it may have exited just now, and said so
        if doc.get("status") in LIVE:
            return orphan_state(doc)
    return ShimState.from_doc(doc)


def orphan_state(doc: dict[str, Any]) -> ShimState:
    """Describe a process whose shim died without recording its exit."""
    st = ShimState.from_doc(doc)
    st.error = "shim exited unexpectedly"
    if alive(st.pid, doc.get("pid_start", 0)):
        st.status = "running"
    else:
        st.status = "exited"
        st.exit_code = 255
    return st
