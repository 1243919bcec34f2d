"""A real shoald for integration tests: private roots, its own cgroup parent, leak checks."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Daemon:
    """One shoald process; `cli()` runs the real `shoal` command against it."""

    def __init__(self, root: Path, cgroup_parent: str) -> None:
        import secrets

        self.tag = secrets.token_hex(2)[:3]
        # every name shoald gives kernel objects is private to this test daemon
        self.net_opts = {
            "default_bridge": f"s{self.tag}0",
            "bridge_prefix": f"s{self.tag}-",
            "veth_prefix": f"v{self.tag}",
            "chain_prefix": f"SHT{self.tag.upper()}",
            "rule_tag": f"shoal-test-{self.tag}",
            "dns_forward": "false",
        }
        self.root = root
        self.data = root / "data"
        self.run = root / "run"
        self.sock = str(self.run / "shoal.sock")
        self.cgroup_parent = cgroup_parent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "unix://" + self.sock

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "shoald.log", "ab")
        self.proc = subprocess.Popen(
            [str(BIN / "shoald"), "--data-root", str(self.data), "--exec-root", str(self.run),
             "--cgroup-parent", self.cgroup_parent, "--debug",
             *[f"--network-opt={k}={v}" for k, v in self.net_opts.items()]],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shoald exited {self.proc.returncode}: {self.log_tail()}")
            with contextlib.suppress(OSError):
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock)
                s.close()
                return
            time.sleep(0.05)
        raise RuntimeError("shoald did not listen in 30s: " + self.log_tail())

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.proc = None

    def teardown_network(self) -> None:
        """Remove the bridges, veths, rules and netns this daemon made (it must be stopped)."""
        from shoal.engine.config import EngineConfig
        from shoal.engine.network.service import NetworkService

        cfg = EngineConfig(data_root=self.data, run_root=self.run,
                           extra={f"network.{k}": v for k, v in self.net_opts.items()})
        NetworkService(cfg).teardown()

    def log_tail(self) -> str:
        try:
            return (self.root / "shoald.log").read_text()[-3000:]
        except OSError:
            return ""

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = UnixHTTPConnection(self.sock)
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, "/v1.44" + path, body=data,
                     headers={"Content-Type": "application/json"} if data else {})
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, raw

    def cli(self, *args: str, input: bytes | None = None, timeout: float = 60,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SHOAL_HOST": self.host}
        r = subprocess.run([str(BIN / "shoal"), *args], input=input.decode() if input else None,
                           capture_output=True, text=True, env=env, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"shoal {' '.join(args)} -> {r.returncode}: {r.stderr}")
        return r

    def cleanup_containers(self) -> None:
        st, items = self.api("GET", "/containers/json?all=1")
        if st == 200:
            for c in items:
                self.api("DELETE", f"/containers/{c['Id']}?force=1")


def cgroup_dirs(parent: str) -> list[str]:
    """Return the container cgroups left under PARENT in every v1 hierarchy (and v2)."""
    found: list[str] = []
    base = Path("/sys/fs/cgroup")
    for hier in [base, *base.iterdir()] if base.exists() else []:
        p = hier / parent
        if p.is_dir():
            found += [str(x) for x in p.iterdir() if x.is_dir()]
    return found


def links_named(prefixes: tuple[str, ...]) -> list[str]:
    """Return the network devices whose names start with one of PREFIXES: in the machine's
    namespace, and in every bridge network's (containers' veths end there; see
    engine/network/bridge.py), named <namespace file>:<device>."""
    found = [n for n in os.listdir("/sys/class/net") if n.startswith(prefixes)]
    for ns in bridge_namespaces():
        found += [f"{ns}:{name}" for name in _links_in(ns) if name.startswith(prefixes)]
    return found


def bridge_namespaces() -> list[str]:
    """Return the bound namespaces of bridge networks (<run root>/bridge-netns/<bridge>)."""
    with open("/proc/self/mountinfo") as f:
        points = [ln.split()[4] for ln in f if " nsfs " in ln]
    return [p for p in points if Path(p).parent.name == "bridge-netns"]


def _links_in(ns: str) -> list[str]:
    from shoal.engine.network.errors import NetworkError
    from shoal.engine.network.netlink import Netlink

    try:
        with Netlink(ns) as nl:
            return [lk.name for lk in nl.links()]
    except (NetworkError, OSError):  # unbound meanwhile: nothing left in it
        return []


def rules_tagged(tag: str) -> list[str]:
    """Return iptables rules (filter and nat) that carry TAG in a comment."""
    out = []
    for table in ("filter", "nat"):
        r = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True)
        out += [ln for ln in r.stdout.splitlines() if f'"{tag}"' in ln or f" {tag} " in ln]
    return out


def mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split()[4].startswith(prefix)]


def processes_with_cwd_or_arg(needle: str) -> list[int]:
    """Return pids whose command line mentions NEEDLE (shims carry their state dir)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if needle.encode() in cmd:
            out.append(int(d.name))
    return out
