"""Fixtures of the snapshot tests; testlib.py's builders are importable as `snapshots_testlib`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _load_testlib():  # tests are not a package: load the builders by path
    path = Path(__file__).with_name("testlib.py")
    spec = importlib.util.spec_from_file_location("snapshots_testlib", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["snapshots_testlib"] = mod
    spec.loader.exec_module(mod)
    return mod


testlib = _load_testlib()
