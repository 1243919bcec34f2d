"""Become the container process: the code the shim's forked child runs until execve.

The child talks to the shim over a SOCK_SEQPACKET pair (``ctl``):

    child -> shim   b"P" + SCM_RIGHTS(pty master)   (tty mode, once)
                    b"R"                             set up, blocked before exec
                    b"E" + JSON {error, kind, exit_code}   failed (then it exits)
    shim -> child   b"G"                             release: exec now

Its end is close-on-exec, so EOF right after b"G" means execve succeeded.
Stdlib only; the shim imports it as a sibling script module.
"""

from __future__ import annotations

import _signal
import _socket
import fcntl
import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn
if TYPE_CHECKING or __package__:
    from . import caps, jsonlite, rootfs
    from . import syscalls as sc
else:
    import caps
    import jsonlite
    import rootfs
    import syscalls as sc

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_TIOCSCTTY = 0x540E
_TIOCSWINSZ = 0x5414
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_EXEC_NS = sc.CLONE_NEWNS | sc.CLONE_NEWUTS | sc.CLONE_NEWIPC | sc.CLONE_NEWNET


class StartError(Exception):
    """The process cannot be started; KIND and EXIT_CODE follow Docker (127, 126, 128)."""

    def __init__(self, message: str, kind: str = "system", exit_code: int = 128) -> None:
        super().__init__(message)
        self.kind = kind
        self.exit_code = exit_code


def run(
    spec: dict[str, Any],
    rt: dict[str, Any],
    ctl: _socket.socket,
    stdio: tuple[int, int, int] | None,
    target_pidfd: int = -1,
) -> NoReturn:
    """Set up, report ready, wait for the release, exec SPEC's process; never return.

    STDIO is (stdin, stdout, stderr) to install, or None for a tty. TARGET_PIDFD
    is the container init to join (exec mode), or -1 to build a new container.
    """
    code = 128
    try:
        sc.prctl(sc.PR_SET_PDEATHSIG, _signal.SIGKILL)
        os.umask(0o022)
        if target_pidfd >= 0:
            sc.setns(target_pidfd, _EXEC_NS)
            _setup_stdio(spec["process"], ctl, stdio, console=False)
        else:
            _setup_container(spec, ctl, stdio)
        proc = spec["process"]
        cwd = proc.get("cwd") or "/"
        try:
            os.chdir(cwd)
        except OSError as exc:
            reason = os.strerror(exc.errno or 0).lower()
            raise StartError(
                f'chdir to cwd ("{cwd}") set in config.json failed: {reason}'
            ) from None
        _set_credentials(proc)
        ctl.send(b"R")
        if ctl.recv(16) != b"G":
            os._exit(1)
        env = proc.get("env") or []
        path = lookup(proc["args"][0], env)
        env_map = {}
        for item in env:
            key, sep, value = item.partition("=")
            if sep and key:
                env_map[key] = value
        if proc.get("no_new_privileges", True):
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        for sig in (_signal.SIGHUP, _signal.SIGINT, _signal.SIGPIPE, _signal.SIGTERM,
                    _signal.SIGXFSZ):  # fmt: skip
            _signal.signal(sig, _signal.SIG_DFL)
        sc.prctl(sc.PR_SET_PDEATHSIG, 0)
        try:
            os.execve(path, proc["args"], env_map)
        except OSError as exc:
            raise _exec_error(proc["args"][0], exc) from None
    except StartError as exc:
        code = exc.exit_code
        _report(ctl, str(exc), exc.kind, code)
    except BaseException as exc:
        _report(ctl, describe(exc), "system", code)
    os._exit(code)


def _report(ctl: _socket.socket, message: str, kind: str, code: int) -> None:
    doc = {"error": message, "kind": kind, "exit_code": code}
    try:
        ctl.send(b"E" + jsonlite.dumps(doc).encode())
    except OSError:
        pass


def describe(exc: BaseException) -> str:
    """Render EXC like Go's errors: "mount /x/proc: no such file or directory"."""
    if isinstance(exc, OSError) and exc.strerror:
        what = exc.strerror.split(": ")
        reason = what[-1][:1].lower() + what[-1][1:]
        call = what[0] + " " if len(what) > 1 else ""
        target = f"{exc.filename}: " if exc.filename else ""
        return f"{call}{target}{reason}"
    return f"{type(exc).__name__}: {exc}"


def _setup_container(spec: dict[str, Any], ctl: _socket.socket, stdio: Any) -> None:
    net = spec.get("net_namespace") or "new"
    flags = sc.CLONE_NEWNS | sc.CLONE_NEWUTS | sc.CLONE_NEWIPC
    if net == "new":
        flags |= sc.CLONE_NEWNET
    elif net != "host":
        fd = os.open(net, os.O_RDONLY | os.O_CLOEXEC)
        sc.setns(fd, sc.CLONE_NEWNET)
        os.close(fd)
    sc.unshare(flags)
    if net == "new":
        _loopback_up()
    rootfs.prepare(spec)
    # Like Docker, create a missing working directory (before "/" may turn read-only).
    os.makedirs(spec["process"].get("cwd") or "/", exist_ok=True)
    _setup_stdio(spec["process"], ctl, stdio, console=True)
    rootfs.finish(spec)
    if spec.get("hostname"):
        sc.sethostname(spec["hostname"])


def _loopback_up() -> None:
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        ifr = bytearray(b"lo".ljust(40, b"\0"))
        fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, ifr)
        flags = int.from_bytes(ifr[16:18], sys.byteorder) | _IFF_UP
        ifr[16:18] = flags.to_bytes(2, sys.byteorder)
        fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, bytes(ifr))
    finally:
        s.close()


def _setup_stdio(
    proc: dict[str, Any], ctl: _socket.socket, stdio: tuple[int, int, int] | None, console: bool
) -> None:
    os.setsid()
    if stdio is not None:
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        return
    master, slave = os.openpty()  # the container's /dev/ptmx: a pty of its own devpts
    fcntl.ioctl(slave, _TIOCSCTTY, 0)
    size = [proc.get("console_height") or 24, proc.get("console_width") or 80, 0, 0]
    fcntl.ioctl(slave, _TIOCSWINSZ, b"".join(v.to_bytes(2, sys.byteorder) for v in size))
    if console:
        with open("/dev/console", "a"):
            pass
        sc.mount(os.ttyname(slave), "/dev/console", None, sc.MS_BIND)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    os.close(slave)
    fd_bytes = master.to_bytes(4, sys.byteorder)
    ctl.sendmsg([b"P"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd_bytes)])
    os.close(master)


def _set_credentials(proc: dict[str, Any]) -> None:
    names = proc.get("capabilities")
    want = caps.mask(caps.DEFAULT if names is None else names)
    want &= sc.capget()[1]
    uid = proc.get("uid") or 0
    gid = proc.get("gid") or 0
    sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        if not want & (1 << cap):
            sc.prctl(sc.PR_CAPBSET_DROP, cap)
    os.setgroups(proc.get("additional_gids") or [])
    os.setgid(gid)
    os.setuid(uid)
    sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    # Docker gives a non-root user no effective or permitted capability.
    mine = want if uid == 0 else 0
    sc.capset(mine, mine, 0)
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)


def lookup(name: str, env: list[str]) -> str:
    """Resolve NAME like Go's exec.LookPath, with PATH from the container's ENV."""
    if "/" in name:
        try:
            st = os.stat(name)
        except OSError as exc:
            raise _exec_error(name, exc, f"stat {name}: ") from None
        if stat.S_ISDIR(st.st_mode):
            raise StartError(f'exec: "{name}": is a directory', "permission", 126)
        return name
    search = DEFAULT_PATH
    for item in env:
        if item.startswith("PATH="):
            search = item[5:]
    for d in search.split(":"):
        cand = f"{d or '.'}/{name}"
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return cand
    raise StartError(f'exec: "{name}": executable file not found in $PATH', "not_found", 127)


def _exec_error(name: str, exc: OSError, prefix: str = "") -> StartError:
    reason = os.strerror(exc.errno or 0)
    reason = reason[:1].lower() + reason[1:]
    if isinstance(exc, FileNotFoundError):
        return StartError(f'exec: "{name}": {prefix}{reason}', "not_found", 127)
    return StartError(f'exec: "{name}": {prefix}{reason}', "permission", 126)
