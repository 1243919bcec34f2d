"""Containers outlive shoald: stopped or killed, the next daemon re-adopts them."""

from __future__ import annotations

import os
import signal
import time

import pytest

pytestmark = pytest.mark.root


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_containers_survive_daemon_restart(clean, how):
    cid = clean.cli("run", "-d", "busybox", "sh", "-c",
                    "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.1; done"
                    ).stdout.strip()
    st, info = clean.api("GET", f"/containers/{cid}/json")
    pid = info["State"]["Pid"]
    assert pid > 0
    gone = clean.cli("run", "-d", "busybox", "sh", "-c", "sleep 0.5; exit 7").stdout.strip()
    clean.stop(how)
    time.sleep(1.0)  # `gone` exits while no daemon watches
    os.kill(pid, 0)  # still alive without shoald
    clean.start()
    ps = clean.cli("ps").stdout
    assert cid[:12] in ps and gone[:12] not in ps
    st, info = clean.api("GET", f"/containers/{gone}/json")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 7
    st, info = clean.api("GET", f"/containers/{cid}/json")
    assert info["State"]["Running"] and info["State"]["Pid"] == pid
    logs = clean.cli("logs", cid).stdout
    assert "tick0" in logs and "tick5" in logs
    clean.cli("stop", "-t", "1", cid, check=True)
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.05)
    clean.cli("rm", cid, gone, check=True)
