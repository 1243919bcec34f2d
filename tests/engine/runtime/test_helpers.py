"""The shim's stdlib helpers: secure_join, caps, jsonlite, protocol framing, json-file log."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest

from shoal.engine.runtime import caps, jsonlite
from shoal.engine.runtime import protocol as proto
from shoal.engine.runtime.paths import secure_join
from shoal.engine.runtime.shimlog import JsonLog, rfc3339_nano


def test_secure_join_never_escapes(tmp_path):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "abs").symlink_to("/a")
    (root / "up").symlink_to("../../../..")
    (root / "a" / "loop").symlink_to("loop")
    r = str(root)
    assert secure_join(r, "/abs/b") == f"{r}/a/b"
    assert secure_join(r, "../../etc/passwd") == f"{r}/etc/passwd"
    assert secure_join(r, "/up/etc") == f"{r}/etc"
    assert secure_join(r, "a/./b/../new/x") == f"{r}/a/new/x"
    assert secure_join(r, "/") == r
    with pytest.raises(OSError):
        secure_join(r, "/a/loop")


def test_default_caps_mask():
    assert caps.mask(caps.DEFAULT) == 0xA80425FB
    assert caps.normalize("net_admin") == "CAP_NET_ADMIN"
    with pytest.raises(ValueError):
        caps.normalize("CAP_FLY")


def test_caps_adjust_like_docker():
    assert "CAP_NET_ADMIN" in caps.adjust(["NET_ADMIN"], [])
    assert "CAP_CHOWN" not in caps.adjust([], ["chown"])
    assert caps.adjust(["CAP_KILL"], ["ALL"]) == ["CAP_KILL"]
    everything = caps.adjust(["ALL"], ["SYS_ADMIN"])
    assert len(everything) == len(caps.NUMBERS) - 1 and "CAP_SYS_ADMIN" not in everything


def test_jsonlite_round_trip():
    doc = {"a": [1, 2.5, None, True, 'é\n"x"'], "b": {"c": -3}, "e": ""}
    assert jsonlite.loads(json.dumps(doc)) == doc
    assert json.loads(jsonlite.dumps(doc)) == doc
    assert jsonlite.loads("  [1]\n") == [1]
    for bad in ("{", "[1] 2", ""):
        with pytest.raises(ValueError):
            jsonlite.loads(bad)


def test_protocol_frames():
    buf = bytearray(proto.frame(proto.STDOUT, b"hello") + proto.frame(proto.END) + b"O\x00")
    assert proto.split_frames(buf) == [(proto.STDOUT, b"hello"), (proto.END, b"")]
    assert buf == b"O\x00"
    with pytest.raises(ValueError):
        proto.split_frames(bytearray(b"1\xff\xff\xff\xff"))


def test_json_log_lines_partials_and_rotation(tmp_path):
    path = tmp_path / "c.log"
    log = JsonLog(str(path), max_size=0)
    log.write(1, b"one\ntw")
    log.write(2, "é\n".encode())
    log.write(1, b"o\n\xff")
    log.write(1, b"x" * (20 * 1024))
    log.close()
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    assert [(ln["stream"], ln["log"]) for ln in lines[:3]] == [
        ("stdout", "one\n"), ("stderr", "é\n"), ("stdout", "two\n")]  # fmt: skip
    assert lines[3]["log"].startswith("\ufffd") and len(lines[3]["log"]) == 16 * 1024
    assert len(lines[4]["log"]) == 4 * 1024 + 1 and len(lines) == 5
    small = JsonLog(str(tmp_path / "r.log"), max_size=200)
    for _ in range(5):
        small.write(1, b"0123456789\n")
    small.close()
    assert (tmp_path / "r.log.1").exists() and os.path.getsize(tmp_path / "r.log") < 200


def test_rfc3339_nano():
    assert rfc3339_nano(1_795_000_000_000_000_001) == "2026-11-18T11:06:40.000000001Z"
    when = datetime.fromisoformat(rfc3339_nano()[:26] + "+00:00")
    assert abs((datetime.now(UTC) - when).total_seconds()) < 5
