"""Run etcd as a child process (single-host start) or connect to external endpoints.

`EtcdProcess` starts Debian's etcd on loopback (or any given host) with its
data in a given directory, waits until `/health` answers, and stops it with
SIGTERM then SIGKILL. `plan_cluster` prepares the configs of a multi-member
cluster (every member must know every peer URL before any starts) and
`EtcdCluster` starts them together. `connect` opens an aetcd client on one or
more endpoints, embedded or external.

The child gets PR_SET_PDEATHSIG(SIGTERM) so that it never outlives a crashed
parent (set by util-linux's setpriv, so that no Python runs in the forked
child), and its own session so that a terminal's ^C reaches the parent only
(the parent stops etcd cleanly).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import IO

import aetcd

log = logging.getLogger(__name__)

ETCD_BINARY = "/usr/bin/etcd"
SETPRIV = "/usr/bin/setpriv"
DEFAULT_MAX_TXN_OPS = 128
DEFAULT_MAX_REQUEST_BYTES = 1536 * 1024
# Watch responses and paginated lists may carry much more than one request.
CLIENT_MAX_RECEIVE_BYTES = 256 * 1024 * 1024
_PR_SET_PDEATHSIG = 1


class EtcdError(Exception):
    """etcd could not be started, did not become healthy, or is misconfigured."""


@dataclass
class EtcdConfig:
    """How to run one etcd member; ports 0 are replaced by free ones at start."""

    data_dir: Path
    name: str = "default"
    host: str = "127.0.0.1"
    client_port: int = 0
    peer_port: int = 0
    # initial_cluster maps member name -> peer URL; empty means this member alone.
    initial_cluster: dict[str, str] = field(default_factory=dict)
    initial_cluster_state: str = "new"
    cluster_token: str = "shoal"
    # etcd's own defaults; the store splits its transactions to fit them.
    max_txn_ops: int = DEFAULT_MAX_TXN_OPS
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    quota_backend_bytes: int = 2 * 1024**3
    heartbeat_interval_ms: int = 100
    election_timeout_ms: int = 1000
    # History is compacted every 5 minutes; watch caches relist when they fall behind.
    auto_compaction_mode: str = "periodic"
    auto_compaction_retention: str = "5m"
    log_level: str = "warn"
    # log_file defaults to "<data_dir>.log" next to the data directory.
    log_file: Path | None = None
    binary: str = ETCD_BINARY
    start_timeout: float = 30.0
    stop_timeout: float = 10.0

    @property
    def client_url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"

    def args(self) -> list[str]:
        """Return etcd's command line for this config (ports must be set)."""
        cluster = self.initial_cluster or {self.name: self.peer_url}
        return [
            self.binary,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            "--initial-cluster=" + ",".join(f"{n}={u}" for n, u in sorted(cluster.items())),
            f"--initial-cluster-state={self.initial_cluster_state}",
            f"--initial-cluster-token={self.cluster_token}",
            f"--max-txn-ops={self.max_txn_ops}",
            f"--max-request-bytes={self.max_request_bytes}",
            f"--quota-backend-bytes={self.quota_backend_bytes}",
            f"--heartbeat-interval={self.heartbeat_interval_ms}",
            f"--election-timeout={self.election_timeout_ms}",
            f"--auto-compaction-mode={self.auto_compaction_mode}",
            f"--auto-compaction-retention={self.auto_compaction_retention}",
            "--logger=zap",
            f"--log-level={self.log_level}",
        ]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on HOST a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


async def check_health(host: str, port: int, timeout: float = 2.0) -> bool:
    """Return whether the member at HOST:PORT answers /health with health true."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError):
        return False
    try:
        writer.write(f"GET /health HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        body = await asyncio.wait_for(reader.read(), timeout)
    except (TimeoutError, OSError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return b'"health":"true"' in body


class EtcdProcess:
    """One etcd member run as a child process; also an async context manager."""

    def __init__(self, config: EtcdConfig) -> None:
        self.config = config
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def endpoint(self) -> str:
        """Return "host:port" of the client URL (what `connect` takes)."""
        return f"{self.config.host}:{self.config.client_port}"

    @property
    def log_file(self) -> Path:
        cfg = self.config
        return cfg.log_file or cfg.data_dir.with_name(cfg.data_dir.name + ".log")

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def start(self) -> None:
        """Spawn etcd and wait until it is healthy; pick free ports if unset."""
        auto_ports = self.config.client_port == 0 or self.config.peer_port == 0
        for attempt in range(3):
            self.spawn()
            try:
                await self.wait_healthy()
                return
            except EtcdError:
                exited = self._proc is not None and self._proc.poll() is not None
                await self.stop()
                if not (auto_ports and exited and "address already in use" in self.log_tail()):
                    raise
                log.info("etcd ports were taken, retrying (attempt %d)", attempt + 1)
                self.config = replace(self.config, client_port=0, peer_port=0)
        raise EtcdError("etcd could not bind free ports")

    def spawn(self) -> None:
        """Start the process without waiting for it (members of a new cluster)."""
        if self.running():
            raise EtcdError(f"etcd {self.config.name} is already running")
        cfg = self.config
        if cfg.client_port == 0:
            cfg.client_port = free_port(cfg.host)
        if cfg.peer_port == 0:
            cfg.peer_port = free_port(cfg.host)
        cfg.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._log = open(self.log_file, "ab")
        # setpriv (util-linux) sets the parent-death signal and execs etcd: no Python
        # runs between fork and exec, which is unsafe while gRPC threads run (a
        # manager joining etcd holds a client open; the forked child could die).
        wrap = [SETPRIV, "--pdeathsig", "TERM", "--"] if os.path.exists(SETPRIV) else []
        self._proc = subprocess.Popen(
            wrap + cfg.args(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=None if wrap else _die_with_parent,
        )
        log.info("etcd %s started (pid %d) on %s", cfg.name, self._proc.pid, cfg.client_url)

    async def wait_healthy(self, timeout: float | None = None) -> None:
        """Wait until /health says true; raise EtcdError if etcd exits or times out."""
        deadline = time.monotonic() + (timeout or self.config.start_timeout)
        while True:
            if self._proc is None or self._proc.poll() is not None:
                raise EtcdError(f"etcd exited during start-up: {self.log_tail()}")
            if await check_health(self.config.host, self.config.client_port):
                return
            if time.monotonic() > deadline:
                raise EtcdError(f"etcd not healthy after {self.config.start_timeout}s")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop etcd: SIGTERM, then SIGKILL after stop_timeout; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.config.stop_timeout
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if proc.poll() is None:
                log.warning("etcd %s ignored SIGTERM, killing it", self.config.name)
                proc.kill()
                await asyncio.to_thread(proc.wait)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, size: int = 2000) -> str:
        """Return the end of etcd's log (for error messages)."""
        try:
            with open(self.log_file, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - size))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    async def __aenter__(self) -> EtcdProcess:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def plan_cluster(base_dir: Path, size: int, host: str = "127.0.0.1") -> list[EtcdConfig]:
    """Return configs for a new SIZE-member cluster with data under BASE_DIR."""
    configs = [
        EtcdConfig(
            data_dir=base_dir / f"etcd{i}",
            name=f"etcd{i}",
            host=host,
            client_port=free_port(host),
            peer_port=free_port(host),
        )
        for i in range(size)
    ]
    members = {c.name: c.peer_url for c in configs}
    for c in configs:
        c.initial_cluster = dict(members)
    return configs


class EtcdCluster:
    """Several members started together (they need each other for a quorum)."""

    def __init__(self, configs: Sequence[EtcdConfig]) -> None:
        self.members = [EtcdProcess(c) for c in configs]

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    async def start(self) -> None:
        """Spawn every member, then wait until all are healthy."""
        try:
            for m in self.members:
                m.spawn()
            await asyncio.gather(*(m.wait_healthy() for m in self.members))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop the members one after the other (together, a leader waits for a
        leadership transfer to a member that is going away too)."""
        for m in self.members:
            await m.stop()

    async def __aenter__(self) -> EtcdCluster:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def _strip_scheme(endpoint: str) -> str:
    for scheme in ("http://", "https://"):
        endpoint = endpoint.removeprefix(scheme)
    return endpoint.rstrip("/")


def connect(endpoints: Sequence[str], *, timeout: float | None = 10.0) -> aetcd.Client:
    """Return an aetcd client (not yet connected) for ENDPOINTS ("host:port" or URLs).

    Several endpoints become one gRPC channel that fails over between them
    (grpc's "ipv4:a:p,b:p" target); TIMEOUT bounds each call. The channel sends
    keepalives so that a dead connection breaks watches instead of hanging them.
    """
    if not endpoints:
        raise EtcdError("no etcd endpoints given")
    hosts = [_strip_scheme(e) for e in endpoints]
    # aetcd builds its target as f"{host}:{port}": split the last port off.
    target = hosts[0] if len(hosts) == 1 else "ipv4:" + ",".join(hosts)
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise EtcdError(f"bad etcd endpoint list: {endpoints}")
    options = {
        "grpc.max_receive_message_length": CLIENT_MAX_RECEIVE_BYTES,
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.initial_reconnect_backoff_ms": 200,
        "grpc.max_reconnect_backoff_ms": 2_000,
    }
    return aetcd.Client(host=host, port=int(port), timeout=timeout, options=options)
