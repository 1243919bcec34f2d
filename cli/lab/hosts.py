"""One lab host's processes: start its shoald (or registry) in its namespaces, stop, wipe.

A host's daemon enters only the host's *network* namespace (nsenter --net)
and a UTS namespace of its own (its hostname is the host's name), not a
mount namespace: the overlay mounts and namespace files its shoald makes are
then ordinary mounts under the host's directory, visible to `lab down` and to
tests that nsenter a container's netns, and a restarted shoald finds the
mounts its containers still use. (`ip netns exec` would give each run a
private mount namespace whose mounts vanish with it — and with them the
mounts a re-adopting shoald needs.) Daemons run detached (own session, log
file in the host's directory), so `lab up` returns and a killed CLI leaves
them running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from .errors import LabSystemError
from .model import REGISTRY_PORT, HostState
from .procs import alive, host_pids, kill_all, terminate
from .underlay import netns_inode

BIN = Path(sys.executable).parent
MNT_DETACH = 2
_HOSTNAME = 'hostname "$1" && shift && exec "$@"'


def _shoald() -> str:
    """Return the shoald next to this interpreter (the venv's), else the one on PATH."""
    cand = BIN / "shoald"
    return str(cand) if cand.exists() else "shoald"


def _spawn(h: HostState, argv: list[str]) -> int:
    """Start ARGV in H's network namespace with H's hostname, detached; return its pid."""
    Path(h.dir).mkdir(parents=True, exist_ok=True)
    cmd = ["nsenter", f"--net={h.netns}", "unshare", "--uts", "--", "sh", "-c", _HOSTNAME,
           "sh", h.name, *argv]
    with open(h.log, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)
    # nsenter, unshare and sh each exec the next: the pid is the daemon's own.
    proc.returncode = 0  # never waited on through Popen: `procs` reaps it by pid
    return proc.pid


def shoald_args(h: HostState, insecure_registry: str = "") -> list[str]:
    """Return the shoald command line of host H."""
    args = [_shoald(), "--data-root", str(h.data_root), "--exec-root", str(h.run_root),
            "--cgroup-parent", h.cgroup_parent,
            f"--network-opt=default_subnet={h.bridge_subnet}"]
    if insecure_registry:
        args.append(f"--insecure-registry={insecure_registry}")
    return args


def start_shoald(h: HostState, insecure_registry: str = "") -> None:
    """Start H's shoald (it must not run) and record its pid in H."""
    if running(h):
        raise LabSystemError(f"{h.name}: shoald runs already (pid {h.pid})")
    h.pid = _spawn(h, shoald_args(h, insecure_registry))


def wait_ping(h: HostState, timeout: float = 60.0) -> None:
    """Wait until H's shoald answers GET /_ping; raise with its log tail if it died."""
    deadline = time.monotonic() + timeout
    while True:
        if not alive(h.pid):
            raise LabSystemError(f"{h.name}: shoald exited; its log {h.log} ends with:\n"
                                 + log_tail(h))
        if ping(h.socket):
            return
        if time.monotonic() >= deadline:
            raise LabSystemError(f"{h.name}: shoald did not answer /_ping in {timeout:.0f}s; "
                                 f"{h.log} ends with:\n" + log_tail(h))
        time.sleep(0.05)


def ping(sock: str) -> bool:
    """Return True if the daemon on unix socket SOCK answers /_ping with 200."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(sock)
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def start_registry(h: HostState) -> None:
    """Start Debian's docker-registry in H (plain HTTP on the underlay) and wait for it."""
    store = Path(h.dir) / "storage"
    cfg = Path(h.dir) / "config.yml"
    Path(h.dir).mkdir(parents=True, exist_ok=True)
    cfg.write_text("version: 0.1\nlog: {level: warn}\n"
                   f"storage: {{filesystem: {{rootdirectory: {store}}}, "
                   "delete: {enabled: true}}\n"
                   f"http: {{addr: '{h.addr}:{REGISTRY_PORT}'}}\n")
    h.pid = _spawn(h, ["docker-registry", "serve", str(cfg)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not alive(h.pid):
            raise LabSystemError(f"{h.name}: docker-registry exited:\n{log_tail(h)}")
        with contextlib.suppress(OSError), socket.create_connection(
                (h.addr, REGISTRY_PORT), timeout=1):
            return
        time.sleep(0.05)
    raise LabSystemError(f"{h.name}: docker-registry did not listen in 30s:\n{log_tail(h)}")


def log_tail(h: HostState, size: int = 2000) -> str:
    try:
        return h.log.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def running(h: HostState) -> bool:
    """Return True if H's recorded daemon pid is alive and still H's daemon.

    A pid from an old state file may belong to an unrelated process by now:
    the daemon's command line names the host's directory, a stranger's does not.
    """
    if not alive(h.pid):
        return False
    try:
        cmd = Path(f"/proc/{h.pid}/cmdline").read_bytes()
    except OSError:
        return False
    return (h.dir.rstrip("/") + "/").encode() in cmd


def pids(h: HostState) -> list[int]:
    """Return the pids of every process of host H."""
    return host_pids(netns_inode(Path(h.netns)), h.cgroup_parent, h.dir)


def stop(h: HostState, timeout: float = 20.0) -> None:
    """Stop H's daemon (SIGTERM, SIGKILL after TIMEOUT), then kill whatever of H is left."""
    if running(h):
        terminate(h.pid, timeout)
    kill_all(lambda: pids(h))
    h.pid = 0


def kill(h: HostState) -> None:
    """SIGKILL every process of H at once, as a power loss would."""
    kill_all(lambda: pids(h))
    h.pid = 0


def teardown(h: HostState) -> list[str]:
    """Remove what H's stopped shoald left (rules, links, netns files, cgroups, mounts).

    `shoald --teardown` runs inside the host's namespace only: run in the
    root namespace it would remove the host's own shoal0. What it cannot
    do (a killed shim's container still marked running) the generic sweep
    below does: cgroups destroyed, every mount under the host dir detached.
    Return the problems met (for the caller to report).
    """
    problems: list[str] = []
    if h.role != "registry" and netns_inode(Path(h.netns)) is not None \
            and h.data_root.is_dir():
        r = subprocess.run(["nsenter", f"--net={h.netns}", *shoald_args(h), "--teardown"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            problems.append(f"{h.name}: shoald --teardown: {(r.stderr or r.stdout).strip()}")
    if h.role != "registry":
        from shoal.engine.runtime.cgroups import CgroupManager

        try:
            CgroupManager().destroy(h.cgroup_parent)
        except OSError as exc:
            problems.append(f"{h.name}: cgroup {h.cgroup_parent}: {exc}")
    problems += unmount_under(h.dir)
    return problems


def mounts_under(prefix: str) -> list[str]:
    """Return the mount points at or below directory PREFIX, deepest first."""
    top = prefix.rstrip("/")
    with open("/proc/self/mountinfo") as f:
        points = [ln.split()[4].replace("\\040", " ") for ln in f]
    return sorted({p for p in points if p == top or p.startswith(top + "/")},
                  key=lambda p: -p.count("/"))


def unmount_under(prefix: str) -> list[str]:
    """Detach every mount at or below PREFIX; return the failures."""
    libc = ctypes.CDLL(None, use_errno=True)
    problems = []
    for _ in range(3):  # stacked mounts on one point need one pass each
        points = mounts_under(prefix)
        if not points:
            break
        for p in points:
            if libc.umount2(p.encode(), MNT_DETACH) != 0:
                err = ctypes.get_errno()
                if err not in (22, 2):  # EINVAL, ENOENT: gone meanwhile
                    problems.append(f"umount {p}: {os.strerror(err)}")
    return problems
