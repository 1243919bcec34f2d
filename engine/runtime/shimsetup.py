"""The per-container shim: parent, stdio holder and reaper of one container process.

Started by the daemon as ``python -S -E shim.py STATE_DIR`` (shim.py is a
launcher: a script's own bytecode is never cached) with the write end
of the daemon's ready pipe on fd 3. STATE_DIR holds ``config.json`` (a
ContainerSpec; for an exec, the container's spec with the exec's process) and
``runtime.json`` (what the daemon adds: kind, cgroup files, exec target).

The shim double-forks away from the daemon, forks the container process (see
child.py), writes one JSON line on fd 3 once that process is blocked before
exec, then serves ``shim.sock`` (protocol.py) until the process has exited and
its output is drained. ``state.json`` always says where things stand, so a
restarted daemon needs nothing but the state dir. Stdlib only, import-light:
it must start in a few milliseconds.
"""

from __future__ import annotations

import _signal
import _socket
import os
import select
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
if TYPE_CHECKING or __package__:
    from . import child, jsonlite
    from . import syscalls as sc
    from .shimlog import rfc3339_nano
    from .shimloop import Loop, proc_start_time, socket_address
else:
    import child
    import jsonlite
    import syscalls as sc
    from shimlog import rfc3339_nano
    from shimloop import Loop, proc_start_time, socket_address

READY_FD = 3
SPARE_FD = 4  # a spare shim reads its job (a state dir) here
SPARE_IDLE = 5.0  # seconds a spare waits for a job before it exits


class CreateError(Exception):
    """The container process could not be set up."""

    def __init__(self, message: str, kind: str = "system") -> None:
        super().__init__(message)
        self.kind = kind


class Shim:
    """Set up one container (or exec) process and hand it to the serving loop."""

    def __init__(self, state_dir: str) -> None:
        self.dir = state_dir
        with open(state_dir + "/config.json") as f:
            self.spec: dict[str, Any] = jsonlite.loads(f.read())
        with open(state_dir + "/runtime.json") as f:
            self.rt: dict[str, Any] = jsonlite.loads(f.read())
        me = os.getpid()
        self.state: dict[str, Any] = {
            "id": self.spec["id"], "kind": self.rt.get("kind", "init"),
            "container_id": self.rt.get("container_id", ""), "status": "creating",
            "pid": 0, "pid_start": 0, "shim_pid": me, "shim_start": proc_start_time(me),
            "exit_code": None, "created_at": rfc3339_nano(), "started_at": "",
            "finished_at": "", "oom_killed": False, "error": "",
        }  # fmt: skip
        self.pid = 0
        self.pidfd = -1

    def create(self) -> Loop:
        """Fork the process, wait until it is blocked before exec, return the loop to serve it."""
        proc = self.spec["process"]
        tty = bool(proc.get("tty"))
        dirfd = os.open(self.dir, os.O_PATH | os.O_CLOEXEC)
        listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            os.unlink(self.dir + "/shim.sock")
        except FileNotFoundError:
            pass
        listener.bind(socket_address(self.dir, dirfd))
        listener.listen(64)
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        stdio = None
        outputs: dict[int, int] = {}
        stdin_fd = -1
        if not tty:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            if proc.get("stdin"):
                in_r, stdin_fd = os.pipe()
            else:
                in_r = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            stdio = (in_r, out_w, err_w)
            outputs = {out_r: 1, err_r: 2}
        target = -1
        if self.state["kind"] == "exec":
            target = self._open_target()
            sc.setns(target, sc.CLONE_NEWPID)
        else:
            sc.unshare(sc.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            ours.close()
            listener.close()
            for fd in (READY_FD, *outputs, stdin_fd):
                if fd >= 0:
                    os.close(fd)
            child.run(self.spec, self.rt, theirs, stdio, target)
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        # Join the child to its cgroup from here, while it sets itself up: the
        # first migration of a burst waits for an RCU grace period (~10 ms).
        for procs in self.rt.get("cgroup_procs") or []:
            with open(procs, "w") as f:
                f.write(str(pid))
        theirs.close()
        if stdio:
            for fd in stdio:
                os.close(fd)
        if target >= 0:
            os.close(target)
        master = self._wait_ready(ours)
        if master >= 0:
            outputs = {master: 1}
            if proc.get("stdin"):
                stdin_fd = master
        self.state.update(status="created", pid=pid, pid_start=proc_start_time(pid))
        loop = Loop(self.dir, dirfd, self.spec, self.rt, self.state, listener, ours)
        loop.adopt(pid, self.pidfd, outputs, stdin_fd, master)
        loop.save()
        return loop

    def _open_target(self) -> int:
        pid = int(self.rt["target_pid"])
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            fd = -1
        if fd < 0 or proc_start_time(pid) != self.rt.get("target_start"):
            raise CreateError(f"container {self.rt.get('container_id')} is not running",
                              "not_running")  # fmt: skip
        return fd

    def _wait_ready(self, ctl: _socket.socket) -> int:
        """Block until the child says ready; return the pty master it sent, or -1."""
        master = -1
        while True:
            msg, anc, _flags, _addr = ctl.recvmsg(65536, _socket.CMSG_SPACE(4))
            for level, kind, data in anc:
                if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                    master = int.from_bytes(data[:4], sys.byteorder)
                    os.set_blocking(master, False)
            if msg == b"R":
                return master
            if msg.startswith(b"E"):
                err = jsonlite.loads(msg[1:].decode())
                raise CreateError(err["error"], err.get("kind", "system"))
            if not msg:
                _pid, status = os.waitpid(self.pid, 0)
                self.pid = 0
                raise CreateError(
                    "container process exited during setup "
                    f"(exit code {os.waitstatus_to_exitcode(status)})"
                )

    def abort(self) -> None:
        """Kill and reap a half-created process."""
        if self.pid:
            try:
                _signal.pidfd_send_signal(self.pidfd, _signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass


def _ready(doc: dict[str, Any]) -> None:
    try:
        os.write(READY_FD, (jsonlite.dumps(doc) + "\n").encode())
        os.close(READY_FD)
    except OSError:
        pass


def _await_job() -> str:
    """Wait (as a spare) for a state dir on fd 4; exit if none comes or the daemon is gone."""
    if not select.select([SPARE_FD], [], [], SPARE_IDLE)[0]:
        os._exit(0)
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(SPARE_FD, 4096)
        if not chunk:
            break
        data += chunk
    if not data.endswith(b"\n"):
        os._exit(0)  # the daemon closed the pipe: it will not use this spare
    os.write(READY_FD, b"+")  # taken: from now on, failures are the job's
    state_dir = data[:-1].decode()
    log = os.open(state_dir + "/shim.log", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.dup2(log, 2)
    os.close(log)
    return state_dir


def main(argv: list[str]) -> None:
    """Detach from the daemon, create the process, report on fd 3, serve until it is done.

    With ``--spare`` instead of a state dir, get ready (imports, detach) and
    then wait for the daemon to write the state dir of a job on fd 4.
    """
    spare = argv[1] == "--spare"
    os.set_inheritable(READY_FD, False)
    if os.fork():
        os._exit(0)
    for sig in (_signal.SIGHUP, _signal.SIGINT, _signal.SIGTERM, _signal.SIGPIPE):
        _signal.signal(sig, _signal.SIG_IGN)
    os.chdir("/")
    state_dir = _await_job() if spare else os.path.abspath(argv[1])
    os.closerange(READY_FD + 1, 1 << 16)
    shim = None
    try:
        shim = Shim(state_dir)
        loop = shim.create()
    except BaseException as exc:
        kind = getattr(exc, "kind", "system")
        message = str(exc) if isinstance(exc, CreateError) else child.describe(exc)
        _ready({"ok": False, "error": message, "kind": kind})
        if shim is not None:
            shim.abort()
        os._exit(1)
    _ready({"ok": True, "pid": shim.pid, "shim_pid": os.getpid()})
    loop.serve()
    os._exit(0)
