"""Real shoald daemons in cluster mode on this host (private roots, names and ports)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.engine.runtime.cgroups import CgroupManager
from tests.daemon import Daemon, links_named, mounts_under, processes_with_cwd_or_arg


def free_port_pair() -> int:
    """Return a port P with P and P+1 free on loopback (gRPC main port and CA port)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p > 65000:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    raise RuntimeError("no free port pair")


class Cluster:
    """Start daemons on demand; stop and clean all of them at the end."""

    def __init__(self, base: Path, busybox_tar: Path) -> None:
        self.base = base
        self.busybox_tar = busybox_tar
        self.daemons: list[Daemon] = []

    def daemon(self, name: str) -> Daemon:
        d = Daemon(self.base / name, f"shoal-test-{uuid.uuid4().hex[:8]}")
        d.port = free_port_pair()  # type: ignore[attr-defined]
        d.start()
        self.daemons.append(d)
        d.cli("import", str(self.busybox_tar), "busybox:latest", check=True)
        return d

    def close(self) -> None:
        import time

        def quietly(fn, *args):
            try:
                return fn(*args)
            except Exception as exc:  # teardown goes on: every daemon must be stopped
                print(f"teardown: {fn.__name__}{args}: {exc}")
                return None

        for d in self.daemons:
            if d.proc is None:
                quietly(d.start)  # a test killed it: its containers still run and must go
        for d in self.daemons:
            r = quietly(d.cli, "service", "ls")
            names = [ln.split()[1] for ln in (r.stdout if r else "").splitlines()[1:]
                     if ln.split()]
            if names:
                quietly(d.cli, "service", "rm", *names)
        for d in self.daemons:  # no stop grace period to sit out: the services are gone
            for c in (quietly(d.api, "GET", "/containers/json") or (0, []))[1] or []:
                quietly(d.api, "POST", f"/containers/{c['Id']}/kill")
        deadline = time.time() + 30  # let the agents shut the tasks down before leaving
        while time.time() < deadline and any((quietly(d.api, "GET", "/containers/json")
                                              or (0, []))[1] for d in self.daemons):
            time.sleep(0.2)
        for d in self.daemons:
            quietly(d.cli, "cluster", "leave", "--force")
            quietly(d.cleanup_containers)
            if quietly(d.stop) is None and d.proc is not None:
                d.proc.kill()
                d.proc.wait()
                d.proc = None
            quietly(d.teardown_network)
            quietly(CgroupManager().destroy, d.cgroup_parent)
        try:
            for d in self.daemons:
                assert links_named((f"s{d.tag}", f"v{d.tag}")) == [], "links leaked"
                assert mounts_under(str(d.root)) == [], "mounts leaked"
                assert processes_with_cwd_or_arg(str(d.run)) == [], "shims leaked"
                assert processes_with_cwd_or_arg(str(d.data)) == [], "etcd leaked"
        finally:
            for d in self.daemons:  # never leave a failed test's processes running
                for pid in processes_with_cwd_or_arg(str(d.run)):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def cluster(tmp_path: Path, busybox_tar: Path) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    c = Cluster(tmp_path, busybox_tar)
    try:
        yield c
    finally:
        c.close()
