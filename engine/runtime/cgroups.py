"""Create, limit, join, kill and remove container cgroups on cgroup v1 or v2.

``CgroupManager(root)`` picks its driver from what is mounted at ROOT
(default /sys/fs/cgroup): v2 when ROOT/cgroup.controllers exists (the unified
hierarchy at the mount root), else v1 with one hierarchy per directory of ROOT
(a v2 hierarchy mounted below a v1 root, as "unified" on hybrid hosts, is
ignored). Paths are relative to every hierarchy, e.g. "shoal/<id>".

Limits follow Docker: memory (+ swap equal to memory, as ``--memory`` without
``--memory-swap``), CFS quota/period, shares (cpu.weight on v2), pids.max, and
on v1 the device whitelist Docker gives every container.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

from .errors import CgroupError
from .spec import Resources

# Docker's default device rules (v1 devices controller).
DEVICE_RULES = ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",
                "c 10:200 rwm"]  # fmt: skip
V2_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids")


def _write(path: Path, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise CgroupError(f"write {value!r} to {path}: {exc.strerror or exc}") from exc


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def shares_to_weight(shares: int) -> int:
    """Map v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), as runc does."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


class CgroupManager:
    """Manage container cgroups below ROOT (v1 or v2, detected)."""

    def __init__(self, root: Path | str = "/sys/fs/cgroup") -> None:
        self.root = Path(root)
        self.version = 2 if (self.root / "cgroup.controllers").exists() else 1
        self.hierarchies: dict[str, Path] = {}
        if self.version == 1:
            seen: set[Path] = set()
            for d in sorted(self.root.iterdir()) if self.root.is_dir() else []:
                real = d.resolve()
                if real in seen or not (d / "cgroup.procs").exists():
                    continue
                if (d / "cgroup.controllers").exists():  # a v2 mount inside a v1 root
                    continue
                seen.add(real)
                self.hierarchies[d.name] = d

    # ---- layout

    def dirs(self, path: str) -> list[Path]:
        """Return the directories of cgroup PATH, one per hierarchy."""
        rel = path.strip("/")
        if not rel:
            raise CgroupError("empty cgroup path")
        if self.version == 2:
            return [self.root / rel]
        return [h / rel for h in self.hierarchies.values()]

    def _dir(self, controller: str, path: str) -> Path | None:
        if self.version == 2:
            return self.root / path.strip("/")
        h = self.hierarchies.get(controller)
        return None if h is None else h / path.strip("/")

    def procs_files(self, path: str) -> list[str]:
        """Return the cgroup.procs files a process writes "0" to, to join PATH."""
        return [str(d / "cgroup.procs") for d in self.dirs(path)]

    def oom_file(self, path: str) -> str:
        """Return the file whose "oom_kill N" line counts OOM kills in PATH ("" if none)."""
        d = self._dir("memory", path)
        if d is None:
            return ""
        return str(d / ("memory.events" if self.version == 2 else "memory.oom_control"))

    def exists(self, path: str) -> bool:
        """Tell whether cgroup PATH exists in any hierarchy."""
        return any(d.is_dir() for d in self.dirs(path))

    # ---- lifecycle

    def create(self, path: str, resources: Resources | None = None) -> None:
        """Create cgroup PATH in every hierarchy and apply RESOURCES."""
        if self.version == 2:
            self._enable_controllers(path)
        for d in self.dirs(path):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CgroupError(f"mkdir {d}: {exc.strerror or exc}") from exc
        if self.version == 1:
            self._init_cpuset(path)
            devices = self._dir("devices", path)
            if devices is not None and (devices / "devices.deny").exists():
                _write(devices / "devices.deny", "a")
                for rule in DEVICE_RULES:
                    _write(devices / "devices.allow", rule)
        self.update(path, resources or Resources())

    def update(self, path: str, r: Resources) -> None:
        """Apply the limits of R to cgroup PATH (None leaves a limit alone)."""
        if self.version == 2:
            d = self.root / path.strip("/")
            if r.memory is not None:
                _write(d / "memory.max", str(r.memory))
                if (d / "memory.swap.max").exists():
                    _write(d / "memory.swap.max", str(r.memory))
            if r.cpu_quota is not None:
                _write(d / "cpu.max", f"{r.cpu_quota} {r.cpu_period}")
            if r.cpu_shares is not None:
                _write(d / "cpu.weight", str(shares_to_weight(r.cpu_shares)))
            if r.pids_limit is not None:
                _write(d / "pids.max", str(r.pids_limit) if r.pids_limit > 0 else "max")
            return
        mem = self._dir("memory", path)
        if mem is not None and r.memory is not None:
            limit, memsw = mem / "memory.limit_in_bytes", mem / "memory.memsw.limit_in_bytes"
            if not memsw.exists():
                _write(limit, str(r.memory))
            else:  # memsw >= limit at every step: raise memsw first when growing
                try:
                    _write(limit, str(r.memory))
                    _write(memsw, str(2 * r.memory))
                except CgroupError:
                    _write(memsw, str(2 * r.memory))
                    _write(limit, str(r.memory))
        cpu = self._dir("cpu", path)
        if cpu is not None:
            if r.cpu_quota is not None:
                _write(cpu / "cpu.cfs_period_us", str(r.cpu_period))
                _write(cpu / "cpu.cfs_quota_us", str(r.cpu_quota))
            if r.cpu_shares is not None:
                _write(cpu / "cpu.shares", str(r.cpu_shares))
        pids = self._dir("pids", path)
        if pids is not None and r.pids_limit is not None:
            _write(pids / "pids.max", str(r.pids_limit) if r.pids_limit > 0 else "max")

    def _enable_controllers(self, path: str) -> None:
        parts = path.strip("/").split("/")
        level = self.root
        for part in parts:
            available = _read(level / "cgroup.controllers").split()
            enabled = _read(level / "cgroup.subtree_control").split()
            missing = [c for c in V2_CONTROLLERS if c in available and c not in enabled]
            if missing:
                _write(level / "cgroup.subtree_control", " ".join("+" + c for c in missing))
            level = level / part
            try:
                level.mkdir(exist_ok=True)
            except OSError as exc:
                raise CgroupError(f"mkdir {level}: {exc.strerror or exc}") from exc

    def _init_cpuset(self, path: str) -> None:
        """Copy cpuset.cpus/mems down to new v1 cpusets, which start empty (and unusable)."""
        h = self.hierarchies.get("cpuset")
        if h is None:
            return
        level = h
        for part in path.strip("/").split("/"):
            parent, level = level, level / part
            for name in ("cpuset.cpus", "cpuset.mems"):
                value = _read(parent / name).strip()
                if value and not _read(level / name).strip():
                    _write(level / name, value)

    def add(self, path: str, pid: int) -> None:
        """Move process PID into cgroup PATH in every hierarchy."""
        for procs in self.procs_files(path):
            _write(Path(procs), str(pid))

    def pids(self, path: str) -> list[int]:
        """Return the processes in cgroup PATH and its descendants."""
        found: set[int] = set()
        for d in self.dirs(path):
            if not d.is_dir():
                continue
            for sub, _dirs, files in os.walk(d):
                if "cgroup.procs" in files:
                    found.update(int(p) for p in _read(Path(sub) / "cgroup.procs").split())
        return sorted(found)

    def oom_kill_count(self, path: str) -> int:
        """Return how many processes the OOM killer killed in PATH (0 if unknown)."""
        f = self.oom_file(path)
        for line in _read(Path(f)).splitlines() if f else []:
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def kill_all(self, path: str, timeout: float = 5.0) -> None:
        """SIGKILL every process in cgroup PATH and wait until it is empty."""
        kill_file = self.root / path.strip("/") / "cgroup.kill"
        if self.version == 2 and kill_file.exists():
            _write(kill_file, "1")
        freezer = self._dir("freezer", path) if self.version == 1 else None
        frozen = freezer is not None and (freezer / "freezer.state").exists()
        deadline = time.monotonic() + timeout
        delay = 0.001
        while pids := self.pids(path):
            if frozen and freezer is not None:  # a fork bomb cannot outrun a frozen cgroup
                _write(freezer / "freezer.state", "FROZEN")
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if frozen and freezer is not None:
                _write(freezer / "freezer.state", "THAWED")
            if time.monotonic() > deadline:
                raise CgroupError(f"processes {pids} in cgroup {path} survived SIGKILL")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def destroy(self, path: str, timeout: float = 5.0) -> None:
        """Kill what is left in cgroup PATH and remove it (and its children) everywhere."""
        if not self.exists(path):
            return
        self.kill_all(path, timeout)
        deadline = time.monotonic() + timeout
        for d in self.dirs(path):
            if not d.is_dir():
                continue
            subdirs = sorted((Path(s) for s, _d, _f in os.walk(d)), key=lambda p: -len(p.parts))
            for sub in subdirs:
                self._rmdir(sub, deadline)

    @staticmethod
    def _rmdir(d: Path, deadline: float) -> None:
        delay = 0.001
        while True:
            try:
                d.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                # EBUSY while exiting processes leave; ENOTEMPTY in a fake cgroupfs.
                if exc.errno == errno.ENOTEMPTY and not any(p.is_dir() for p in d.iterdir()):
                    for f in d.iterdir():
                        f.unlink()
                    continue
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise CgroupError(f"rmdir {d}: {exc.strerror or exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
