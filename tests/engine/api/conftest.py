"""A shoald per test module, with the busybox image imported, and leak checks."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.engine.runtime.cgroups import CgroupManager
from tests.daemon import (
    Daemon,
    cgroup_dirs,
    links_named,
    mounts_under,
    processes_with_cwd_or_arg,
    rules_tagged,
)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = tmp_path_factory.mktemp("shoald")
    d = Daemon(root, f"shoal-test-{uuid.uuid4().hex[:8]}")
    d.start()
    try:
        d.cli("import", str(busybox_tar), "busybox:latest", check=True)
        yield d
    finally:
        if d.proc is None:
            d.start()
        d.cleanup_containers()
        d.stop()
        d.teardown_network()
        CgroupManager().destroy(d.cgroup_parent)
        assert links_named((f"s{d.tag}", f"v{d.tag}")) == [], "links leaked"
        assert rules_tagged(d.net_opts["rule_tag"]) == [], "iptables rules leaked"
        assert mounts_under(str(root)) == [], "mounts leaked"
        assert cgroup_dirs(d.cgroup_parent) == [], "cgroups leaked"
        assert processes_with_cwd_or_arg(str(d.run)) == [], "shim processes leaked"


@pytest.fixture
def clean(daemon: Daemon) -> Iterator[Daemon]:
    """Check that the test leaves no container, mount, cgroup or shim behind."""
    yield daemon
    daemon.cleanup_containers()
    assert mounts_under(str(daemon.data / "snapshots" / "containers")) == []
    assert mounts_under(str(daemon.run / "netns")) == []
    assert cgroup_dirs(daemon.cgroup_parent) == []
    # a removed container's veths go with its namespace, which the kernel destroys in
    # the background (engine/network/reaper.py): give it a moment
    deadline = time.monotonic() + 10
    while links_named((f"v{daemon.tag}",)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert links_named((f"v{daemon.tag}",)) == [], "veths leaked"
