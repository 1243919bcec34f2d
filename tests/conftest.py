"""Fixtures shared by every test: the busybox rootfs, root checks, leak counters."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _load_busybox_script():  # scripts/ is not a package
    path = REPO / "scripts" / "busybox_rootfs.py"
    spec = importlib.util.spec_from_file_location("busybox_rootfs", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (namespaces, cgroups, overlayfs)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the path of a busybox rootfs tarball built from Debian's busybox-static."""
    if not shutil.which("busybox") and not os.path.exists("/bin/busybox"):
        pytest.skip("busybox-static is not installed (make deps installs it)")
    out = tmp_path_factory.mktemp("busybox") / "busybox-rootfs.tar"
    _load_busybox_script().write_rootfs(str(out))
    return out


def mounts_under(prefix: str) -> list[str]:
    """Return the mount points below PREFIX (to check that a test leaked none)."""
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split()[4].startswith(prefix)]


@pytest.fixture
def engine_dirs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Give a test its own (data_root, run_root) and check no mount is left below them."""
    data, run = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    run.mkdir()
    yield data, run
    assert mounts_under(str(tmp_path)) == [], "a test left mounts behind"
