"""Every process of a lab host, found from the kernel rather than remembered.

A host's processes are those in its network namespace (shoald, its etcd,
the container shims, containers with --network host, the registry), those
in cgroups below its cgroup parent (containers in namespaces of their own),
and those whose command line names the host's directory (a shim or etcd that
moved elsewhere). Only the pids are remembered in the state file for
`lab ls`; killing never trusts a stored pid alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cgroup_pids(parent: str) -> set[int]:
    pids: set[int] = set()
    hierarchies = [CGROUP_ROOT, *CGROUP_ROOT.iterdir()] if CGROUP_ROOT.is_dir() else []
    for hier in hierarchies:
        top = hier / parent
        if not top.is_dir():
            continue
        for d, _subdirs, _files in os.walk(top):
            with contextlib.suppress(OSError):
                pids.update(int(x) for x in (Path(d) / "cgroup.procs").read_text().split())
    return pids


def host_pids(netns_ino: int | None, cgroup_parent: str, host_dir: str) -> list[int]:
    """Return the pids of every process of a host (see the module docstring)."""
    me = os.getpid()
    mine = _ancestors(me)  # a command line naming the host dir must not kill its caller
    pids = _cgroup_pids(cgroup_parent)
    needle = host_dir.rstrip("/").encode() + b"/"
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        pid = int(d.name)
        if pid in mine or pid in pids:
            continue
        with contextlib.suppress(OSError):
            if netns_ino is not None and os.stat(d / "ns" / "net").st_ino == netns_ino:
                pids.add(pid)
                continue
            if needle in (d / "cmdline").read_bytes():
                pids.add(pid)
    return sorted(pids - mine)


def _ancestors(pid: int) -> set[int]:
    """Return PID and its ancestors."""
    out = set()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def alive(pid: int) -> bool:
    """Return True if PID runs (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until every pid of PIDS exited (reaping our own children); return those left."""
    deadline = time.monotonic() + timeout
    left = list(pids)
    while True:
        for pid in left:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        left = [p for p in left if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)


def terminate(pid: int, timeout: float = 20.0) -> None:
    """Stop PID with SIGTERM, then SIGKILL after TIMEOUT seconds."""
    if not alive(pid):
        return
    signal_pids([pid], signal.SIGTERM)
    if wait_gone([pid], timeout):
        signal_pids([pid], signal.SIGKILL)
        wait_gone([pid], 5)


def kill_all(find: object, rounds: int = 20) -> None:
    """SIGKILL what FIND() returns until it returns nothing (a dying shoald may fork)."""
    assert callable(find)
    for _ in range(rounds):
        pids = find()
        if not pids:
            return
        signal_pids(pids, signal.SIGKILL)
        wait_gone(pids, 5)
