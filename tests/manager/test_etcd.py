"""The embedded etcd launcher: start, stop, restart on the same data, clusters."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from shoal.manager import etcd as etcd_mod
from shoal.manager.etcd import (
    EtcdCluster,
    EtcdConfig,
    EtcdError,
    EtcdProcess,
    connect,
    plan_cluster,
)
from tests.manager.conftest import _need_etcd


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive either
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


async def test_start_stop_and_restart_on_same_data(tmp_path: Path) -> None:
    _need_etcd()
    proc = EtcdProcess(EtcdConfig(data_dir=tmp_path / "data"))
    try:
        await proc.start()
        pid = proc.pid
        assert pid and _alive(pid)
        async with connect([proc.endpoint]) as c:
            await c.put(b"/k", b"v")
        await proc.stop()
        assert not _alive(pid)
        await proc.start()  # same ports, same data
        async with connect([f"http://{proc.endpoint}"]) as c:
            assert (await c.get(b"/k")).value == b"v"
    finally:
        await proc.stop()
        shutil.rmtree(tmp_path / "data")
    assert proc.log_file.exists()


async def test_taken_port_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _need_etcd()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    ports = iter([busy.getsockname()[1]])
    real = etcd_mod.free_port
    monkeypatch.setattr(
        etcd_mod, "free_port", lambda host="127.0.0.1": next(ports, None) or real(host)
    )
    proc = EtcdProcess(EtcdConfig(data_dir=tmp_path / "data"))
    try:
        await proc.start()
        assert proc.config.client_port != busy.getsockname()[1]
    finally:
        await proc.stop()
        busy.close()
        shutil.rmtree(tmp_path / "data", ignore_errors=True)


async def test_bad_config_fails_fast(tmp_path: Path) -> None:
    _need_etcd()
    proc = EtcdProcess(EtcdConfig(data_dir=tmp_path / "data", initial_cluster_state="bogus"))
    with pytest.raises(EtcdError):
        await proc.start()
    assert not proc.running()
    shutil.rmtree(tmp_path / "data", ignore_errors=True)


async def test_three_member_cluster_survives_one_member(tmp_path: Path) -> None:
    _need_etcd()
    cluster = EtcdCluster(plan_cluster(tmp_path / "cluster", 3))
    try:
        await cluster.start()
        async with connect(cluster.endpoints) as c:
            await c.put(b"/k", b"1")
            members = [m async for m in c.members()]
            assert len(members) == 3
        await cluster.members[0].stop()
        async with connect(cluster.endpoints, timeout=5) as c:
            await c.put(b"/k", b"2")
            assert (await c.get(b"/k")).value == b"2"
    finally:
        await cluster.stop()
        shutil.rmtree(tmp_path / "cluster")
    assert not any(m.running() for m in cluster.members)
