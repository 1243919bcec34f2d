"""Fixtures of the image tests; testlib.py's builders are importable as `images_testlib`."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from shoal.engine.images import ImageService


def _load_testlib():  # tests are not a package: load the builders by path
    path = Path(__file__).with_name("testlib.py")
    spec = importlib.util.spec_from_file_location("images_testlib", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["images_testlib"] = mod
    spec.loader.exec_module(mod)
    return mod


testlib = _load_testlib()


@pytest.fixture
def images(tmp_path: Path) -> ImageService:
    return ImageService(tmp_path / "images")


@pytest.fixture
def small_rootfs() -> bytes:
    return testlib.make_tar({"bin/sh": b"#!fake\n", "etc/hostname": b"box\n"})


@pytest.fixture
def tar_factory() -> Callable[..., bytes]:
    return testlib.make_tar


def _load_registry_fixture():
    path = Path(__file__).with_name("registry_fixture.py")
    spec = importlib.util.spec_from_file_location("registry_fixture", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["registry_fixture"] = mod
    spec.loader.exec_module(mod)
    return mod


registry_fixture = _load_registry_fixture()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    """A plain-HTTP docker-registry on loopback, for the module's tests."""
    reg = registry_fixture.Registry(tmp_path_factory.mktemp("registry")).start()
    yield reg
    reg.stop()


@pytest.fixture
def registry_factory(tmp_path: Path):
    """Start registries of any variant ("plain", "htpasswd", "tls", "token"); stop them after."""
    started = []

    def start(variant: str = "plain"):
        reg = registry_fixture.Registry(tmp_path / f"registry-{variant}-{len(started)}", variant)
        started.append(reg)
        return reg.start()

    yield start
    for reg in started:
        reg.stop()
