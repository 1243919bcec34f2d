"""Helpers shared by the benchmarks: a private shoald, a UNIX-socket HTTP client, stats."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        self.sock = s


class Api:
    """A tiny Docker API client over a UNIX socket (keep-alive)."""

    def __init__(self, sock: str) -> None:
        self.sock = sock
        self.conn = UnixHTTPConnection(sock)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        self.conn.request(method, "/v1.44" + path, body=data, headers=headers)
        r = self.conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, raw


class Shoald:
    """A shoald with private data/run roots, started and stopped by the benchmark."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sock = str(root / "run" / "shoal.sock")
        self.proc: subprocess.Popen[bytes] | None = None
        self.cgroup_parent = "shoal-bench"

    def extra_args(self) -> list[str]:
        """Return more shoald arguments (subclasses give private network names)."""
        return []

    def args(self) -> list[str]:
        return ["--data-root", str(self.root / "data"), "--exec-root", str(self.root / "run"),
                "--cgroup-parent", self.cgroup_parent, *self.extra_args()]

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "shoald.log", "wb")
        self.proc = subprocess.Popen([str(VENV_BIN / "shoald"), *self.args()],
                                     stdout=log, stderr=subprocess.STDOUT)
        wait_for_socket(self.sock, self.proc)

    def stop(self) -> None:
        """Leave any cluster, remove every container, stop, then remove kernel state."""
        if self.proc and self.proc.poll() is None:
            try:
                self.cli("cluster", "leave", "--force", capture_output=True, timeout=60)
                api = Api(self.sock)
                _, items = api.call("GET", "/containers/json?all=1")
                for c in items or []:
                    api.call("DELETE", f"/containers/{c['Id']}?force=1&v=1")
            except (OSError, subprocess.SubprocessError) as exc:
                print(f"bench: cleanup before stopping shoald failed: {exc}", file=sys.stderr)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if (self.root / "data").exists():
            subprocess.run([str(VENV_BIN / "shoald"), *self.args(), "--teardown"],
                           capture_output=True)

    def cli(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([str(VENV_BIN / "shoal"), "-H", "unix://" + self.sock, *args], **kw)


def wait_for_socket(path: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode} before listening on {path}")
        if os.path.exists(path):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.close()
                return
            except OSError:
                pass
        time.sleep(0.05)
    raise RuntimeError(f"no socket at {path} after {timeout}s")


def timed(fn: Callable[[], Any], n: int, warmup: int = 2) -> list[float]:
    """Run FN WARMUP + N times; return the N wall times in seconds."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def busybox_tar(dest: Path) -> Path:
    sys.path.insert(0, str(REPO / "scripts"))
    import busybox_rootfs  # type: ignore[import-not-found]

    busybox_rootfs.write_rootfs(str(dest))
    return dest


def tempdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def rmtree(p: Path) -> None:
    shutil.rmtree(p, ignore_errors=True)
