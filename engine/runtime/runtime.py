"""The daemon's handle on container processes: create, start, exec, signal, wait, delete.

Every process (a container's init, or an exec) has a shim (shim.py) and a
state dir ``<shims_root>/<id>/`` (state.py). The Runtime keeps nothing in
memory that is not also on disk, so a new Runtime over the same shims_root (a
restarted daemon) finds and controls the processes an old one started.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import os
import re
import shutil
import signal
from pathlib import Path

from ..errors import InvalidArgument, NotRunning, SystemFailure
from . import protocol as proto
from . import shimclient
from .cgroups import CgroupManager
from .errors import AlreadyExists, NoSuchProcess, ShimUnavailable, StillRunning
from .launcher import ShimLauncher, wait_exit
from .shimclient import AttachStream, ShimGone
from .spec import ContainerSpec, Process
from .state import LIVE, ShimState, alive, orphan_state, read_doc, read_state

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class Runtime:
    """Run container processes through per-process shims that outlive the daemon."""

    def __init__(
        self,
        shims_root: Path,
        cgroups: CgroupManager | None = None,
        *,
        create_timeout: float = 60.0,
        kill_timeout: float = 10.0,
        spare_shims: bool = True,
    ) -> None:
        self.root = Path(shims_root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cgroups = cgroups if cgroups is not None else CgroupManager()
        self.launcher = ShimLauncher(spare=spare_shims, timeout=create_timeout)
        self.kill_timeout = kill_timeout

    def close(self) -> None:
        """Release the spare shim (running containers are not affected)."""
        self.launcher.close()

    # ---- state on disk

    def _dir(self, id: str) -> Path:
        if not _ID.match(id) or ".." in id:
            raise NoSuchProcess(f"invalid id {id!r}")
        return self.root / id

    def _existing(self, id: str) -> Path:
        d = self._dir(id)
        if not d.is_dir():
            raise NoSuchProcess(f"no such container or exec: {id}")
        return d

    def _runtime_doc(self, d: Path) -> dict[str, object]:
        try:
            doc: dict[str, object] = json.loads((d / "runtime.json").read_text())
        except (OSError, ValueError):
            return {}
        return doc

    def list(self) -> list[str]:
        """Return the ids of the containers (not execs) that have state on disk."""
        return sorted(
            d.name
            for d in self.root.iterdir()
            if d.is_dir() and self._runtime_doc(d).get("kind") == "init"
        )

    def list_execs(self, container_id: str) -> builtins.list[str]:
        """Return the ids of the execs of CONTAINER_ID that have state on disk."""
        return sorted(
            d.name
            for d in self.root.iterdir()
            if d.is_dir() and self._runtime_doc(d).get("container_id") == container_id
        )

    def config(self, id: str) -> ContainerSpec:
        """Return the spec the process of ID was created with."""
        return ContainerSpec.from_json((self._existing(id) / "config.json").read_text())

    def state(self, id: str) -> ShimState:
        """Return the state of container or exec ID."""
        return read_state(self._existing(id))

    # ---- create

    async def create(self, spec: ContainerSpec) -> None:
        """Start a shim that sets the container up and blocks its process before exec.

        On failure everything is undone (shim, cgroup, state dir) and the error
        raised: StartFailed, ExecNotFound, InvalidArgument...
        """
        d = self._dir(spec.id)
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            raise AlreadyExists(f"container {spec.id} already exists") from None
        rt: dict[str, object] = {"kind": "init", "cgroup_procs": [], "oom_file": ""}
        try:
            if spec.cgroup_path:
                self.cgroups.create(spec.cgroup_path, spec.resources)
                rt["cgroup_procs"] = self.cgroups.procs_files(spec.cgroup_path)
                rt["oom_file"] = self.cgroups.oom_file(spec.cgroup_path)
            await self._spawn(d, spec.to_json(), rt)
        except BaseException:
            if spec.cgroup_path:
                with contextlib.suppress(Exception):
                    self.cgroups.destroy(spec.cgroup_path)
            shutil.rmtree(d, ignore_errors=True)
            raise

    async def exec_create(self, container_id: str, exec_id: str, process: Process) -> None:
        """Start a shim for PROCESS inside running container CONTAINER_ID, blocked before exec."""
        cdir = self._existing(container_id)
        st = read_state(cdir)
        doc = read_doc(cdir) or {}
        if st.status != "running":
            raise NotRunning(f"container {container_id} is not running")
        spec = ContainerSpec.from_json((cdir / "config.json").read_text())
        spec.id, spec.process, spec.log_path = exec_id, process, ""
        crt = self._runtime_doc(cdir)
        rt = {
            "kind": "exec",
            "container_id": container_id,
            "target_pid": doc.get("pid"),
            "target_start": doc.get("pid_start"),
            "cgroup_procs": crt.get("cgroup_procs", []),
            "oom_file": "",
        }
        d = self._dir(exec_id)
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            raise AlreadyExists(f"exec {exec_id} already exists") from None
        try:
            await self._spawn(d, spec.to_json(), rt)
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise

    async def _spawn(self, d: Path, config: str, rt: dict[str, object]) -> None:
        (d / "config.json").write_text(config)
        (d / "runtime.json").write_text(json.dumps(rt))
        await self.launcher.launch(d)

    # ---- operate

    async def start(self, id: str) -> int:
        """Let the created process of ID exec; return its host pid.

        Raises ExecNotFound (127) / ExecPermission (126) / StartFailed when the
        exec fails; the state then says exited with that code.
        """
        d = self._existing(id)
        try:
            doc = await shimclient.request(d, proto.START)
        except ShimGone:
            raise NotRunning(f"{id} is not running: {self.state(id).status}") from None
        except (InvalidArgument, SystemFailure):
            # The process is exiting: let its state say so before the caller looks.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait(id), self.kill_timeout)
            raise
        return int(doc["pid"])

    async def kill(self, id: str, sig: int) -> None:
        """Send SIG to the process of ID (NotRunning if it has exited)."""
        d = self._existing(id)
        st = read_state(d)
        if st.status not in LIVE:
            raise NotRunning(f"{id} is not running")
        try:
            await shimclient.request(d, proto.SIGNAL, {"signal": int(sig)})
            return
        except ShimGone:
            pass
        doc = read_doc(d) or {}
        st = read_state(d)
        if st.status not in LIVE:
            raise NotRunning(f"{id} is not running")
        # The shim died but the process lives on: signal it ourselves.
        try:
            fd = os.pidfd_open(st.pid)
        except ProcessLookupError:
            raise NotRunning(f"{id} is not running") from None
        try:
            if not alive(st.pid, int(doc.get("pid_start") or 0)):
                raise NotRunning(f"{id} is not running")
            signal.pidfd_send_signal(fd, sig)
        finally:
            os.close(fd)

    async def resize(self, id: str, height: int, width: int) -> None:
        """Set the tty size of the process of ID (no-op without a tty)."""
        try:
            await shimclient.request(
                self._existing(id), proto.RESIZE, {"height": int(height), "width": int(width)}
            )
        except ShimGone:
            raise NotRunning(f"{id} is not running") from None

    async def attach(self, id: str, stdin: bool = False) -> AttachStream:
        """Attach to the output (and stdin if STDIN) of ID; possible from create on."""
        try:
            return await shimclient.attach(self._existing(id), stdin)
        except ShimGone:
            raise NotRunning(f"{id} is not running") from None

    async def wait(self, id: str) -> ShimState:
        """Wait until the process of ID has exited and return its final state."""
        d = self._existing(id)
        while True:
            doc = read_doc(d)
            if doc is None:
                return ShimState(id=id, status="unknown")
            if doc.get("status") not in LIVE:
                return ShimState.from_doc(doc)
            shim_pid, shim_start = int(doc.get("shim_pid") or 0), int(doc.get("shim_start") or 0)
            if alive(shim_pid, shim_start):
                await wait_exit(shim_pid)
                continue
            doc = read_doc(d) or doc
            if doc.get("status") not in LIVE:
                return ShimState.from_doc(doc)
            st = orphan_state(doc)
            if st.status == "running":  # no shim, so no exit code; still wait for the end
                await wait_exit(st.pid)
                st = orphan_state(doc)
            return st

    async def delete(self, id: str, force: bool = False) -> None:
        """Remove the state (and a container's cgroup and execs) of an exited process.

        With FORCE a live process is SIGKILLed and waited for first; without,
        StillRunning is raised.
        """
        d = self._existing(id)
        if read_state(d).status in LIVE:
            if not force:
                raise StillRunning(f"{id} is running; stop it first or force the delete")
            with contextlib.suppress(NotRunning):
                await self.kill(id, signal.SIGKILL)
            try:
                await asyncio.wait_for(self.wait(id), self.kill_timeout)
            except TimeoutError:
                raise ShimUnavailable(f"{id} did not exit after SIGKILL") from None
        await self._reap_shim(d)
        rt = self._runtime_doc(d)
        if rt.get("kind") == "init":
            for exec_id in self.list_execs(id):
                await self.delete(exec_id, force=True)
            cgroup_path = self.config(id).cgroup_path
            if cgroup_path:
                self.cgroups.destroy(cgroup_path)
        shutil.rmtree(d, ignore_errors=True)

    async def _reap_shim(self, d: Path) -> None:
        """Wait for the shim of D to finish delivering output and exit (SIGKILL it if slow)."""
        doc = read_doc(d) or {}
        pid, start = int(doc.get("shim_pid") or 0), int(doc.get("shim_start") or 0)
        if not alive(pid, start):
            return
        try:
            await asyncio.wait_for(wait_exit(pid), self.kill_timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                fd = os.pidfd_open(pid)
                try:
                    if alive(pid, start):
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
                finally:
                    os.close(fd)
