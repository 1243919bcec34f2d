"""The image's HEALTHCHECK is run by the engine; health shows in inspect and ps."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.root


def _health(d, cid):
    st, info = d.api("GET", f"/containers/{cid}/json")
    return info["State"].get("Health") or {}


def _wait_status(d, cid, want, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        h = _health(d, cid)
        if h.get("Status") == want:
            return h
        time.sleep(0.1)
    raise AssertionError(f"health never became {want}: {_health(d, cid)}")


def test_image_healthcheck_goes_starting_healthy_unhealthy(clean, busybox_tar):
    clean.cli("import", "-c", "HEALTHCHECK --interval=1s --timeout=2s --retries=2 "
              "CMD test -f /tmp/ok && echo fine", str(busybox_tar), "busybox:health",
              check=True)
    cid = clean.cli("run", "-d", "busybox:health", "sh", "-c",
                    "sleep 1.5; touch /tmp/ok; sleep 3; rm /tmp/ok; sleep 100").stdout.strip()
    assert _health(clean, cid)["Status"] == "starting"
    assert "(health: starting)" in clean.cli("ps").stdout
    h = _wait_status(clean, cid, "healthy")
    assert h["Log"][-1]["ExitCode"] == 0 and h["Log"][-1]["Output"] == "fine\n"
    assert "(healthy)" in clean.cli("ps").stdout
    h = _wait_status(clean, cid, "unhealthy", timeout=12)
    assert h["FailingStreak"] >= 2 and h["Log"][-1]["ExitCode"] == 1
    assert "(unhealthy)" in clean.cli("ps").stdout
    clean.cli("rm", "-f", cid, check=True)
    clean.cli("rmi", "busybox:health", check=True)


def test_healthcheck_timeout_is_a_failure(clean):
    st, body = clean.api("POST", "/containers/create?name=slowprobe", {
        "Image": "busybox", "Cmd": ["sleep", "100"],
        "Healthcheck": {"Test": ["CMD-SHELL", "sleep 5"], "Interval": 500_000_000,
                        "Timeout": 300_000_000, "Retries": 1},
    })
    assert st == 201, body
    clean.api("POST", "/containers/slowprobe/start")
    h = _wait_status(clean, "slowprobe", "unhealthy")
    assert "exceeded timeout" in h["Log"][-1]["Output"]
    clean.cli("rm", "-f", "slowprobe", check=True)


def test_no_healthcheck_means_no_health(clean):
    cid = clean.cli("run", "-d", "busybox", "sleep", "100").stdout.strip()
    assert "Health" not in clean.api("GET", f"/containers/{cid}/json")[1]["State"]
    clean.cli("rm", "-f", cid, check=True)
