"""Lab clusters for the e2e suite: hosts in network namespaces on one machine (docs/lab.md).

Fixtures (each lab lives for one test module, then goes, and must leave nothing):

    lab_factory   make(nodes=3, managers=1, registry=True) -> Lab; every host has
                  busybox:latest imported; all labs of the module are removed at its end
    lab3          3 hosts: 1 manager, 2 workers, a registry host on the underlay
    lab5          5 hosts: 3 managers, 2 workers, a registry host on the underlay
    lab           the topology the module names in LAB = {"nodes": .., "managers": ..}
                  (default: lab3's)

Every e2e test needs root: each module here is marked `root` by this file.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.cli.lab import Lab
from shoal.cli.lab.leftovers import leftovers

REPO = Path(__file__).resolve().parent.parent
MakeLab = Callable[..., Lab]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    e2e = Path(__file__).parent
    for item in items:
        if e2e in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.root)
            if os.geteuid() != 0:
                item.add_marker(pytest.mark.skip(reason="e2e needs root (netns, cgroups)"))


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a busybox rootfs tarball (scripts/busybox_rootfs.py; no registry needed)."""
    path = REPO / "scripts" / "busybox_rootfs.py"
    spec = importlib.util.spec_from_file_location("busybox_rootfs", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path_factory.mktemp("busybox") / "busybox-rootfs.tar"
    mod.write_rootfs(str(out))
    return out


@pytest.fixture(scope="module")
def lab_factory(tmp_path_factory: pytest.TempPathFactory,
                busybox_tar: Path) -> Iterator[MakeLab]:
    """Yield make(nodes, managers, registry) -> Lab; remove every lab made at the end."""
    root = tmp_path_factory.mktemp("labs")
    made: list[Lab] = []

    def make(nodes: int = 3, managers: int = 1, registry: bool = True) -> Lab:
        lab = Lab.up("e" + secrets.token_hex(2), nodes=nodes, managers=managers,
                     registry=registry, root=root)
        made.append(lab)
        for h in lab.hosts:
            h.cli("import", str(busybox_tar), "busybox:latest", check=True)
        return lab

    yield make
    problems: list[str] = []
    for lab in made:
        state = lab.state
        problems += lab.down()
        problems += leftovers(state)
    assert problems == [], "a lab left something behind"


@pytest.fixture(scope="module")
def lab3(lab_factory: MakeLab) -> Lab:
    """Return a 3-host lab: 1 manager, 2 workers, and a registry host."""
    return lab_factory(nodes=3, managers=1)


@pytest.fixture(scope="module")
def lab5(lab_factory: MakeLab) -> Lab:
    """Return a 5-host lab: 3 managers, 2 workers, and a registry host."""
    return lab_factory(nodes=5, managers=3)


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, lab_factory: MakeLab) -> Lab:
    """Return a lab of the topology the module asks for in LAB (default 3 hosts, 1 manager)."""
    spec: dict[str, Any] = getattr(request.module, "LAB", {"nodes": 3, "managers": 1})
    return lab_factory(**spec)
