"""Regression: stopping a container while its health probes run must not hang.

A probe loop whose cancellation was lost (Python 3.11's asyncio.wait_for can
swallow one) kept probing a dead container, and the engine never recorded its
exit: `stop` hung and the container stayed "Up (unhealthy)".
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.root


def test_stop_while_health_probes_run_does_not_hang(clean: Any, busybox_tar: Path) -> None:
    d = clean
    d.cli("import", "-c", "HEALTHCHECK --interval=100ms CMD true", str(busybox_tar),
          "busybox:probed", check=True)
    for i in range(20):
        cid = d.cli("run", "-d", "busybox:probed", "sleep", "1000", check=True).stdout.strip()
        time.sleep(0.2 + (i % 5) * 0.037)  # land the stop at different points of a probe
        r = d.cli("stop", "-t", "0", cid, timeout=30)  # a hang raises TimeoutExpired
        assert r.returncode == 0, r.stderr
        state = json.loads(d.cli("inspect", cid).stdout)[0]["State"]
        assert not state["Running"] and state["ExitCode"] == 137
        d.cli("rm", cid, check=True)
