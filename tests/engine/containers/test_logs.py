"""The json-file log reader: tail, stream selection, timestamps, follow."""

import asyncio
import json

from shoal.engine.containers.logs import LogOptions, read_logs


def _write(path, entries):
    with open(path, "a") as f:
        for stream, text in entries:
            f.write(json.dumps({"log": text, "stream": stream,
                                "time": "2026-11-28T05:00:00.123456789Z"}) + "\n")


async def _collect(path, opts, running=lambda: False):
    return [(ln.stream, ln.data) async for ln in read_logs(str(path), opts, running)]


async def test_reads_both_streams(tmp_path):
    p = tmp_path / "c-json.log"
    _write(p, [("stdout", "a\n"), ("stderr", "b\n")])
    assert await _collect(p, LogOptions()) == [(1, b"a\n"), (2, b"b\n")]


async def test_tail_and_stream_filter(tmp_path):
    p = tmp_path / "c-json.log"
    _write(p, [("stdout", f"{i}\n") for i in range(10)] + [("stderr", "e\n")])
    assert await _collect(p, LogOptions(stderr=False, tail=2)) == [(1, b"8\n"), (1, b"9\n")]
    assert await _collect(p, LogOptions(tail=0)) == []


async def test_timestamps_prefix(tmp_path):
    p = tmp_path / "c-json.log"
    _write(p, [("stdout", "x\n")])
    out = await _collect(p, LogOptions(timestamps=True))
    assert out == [(1, b"2026-11-28T05:00:00.123456789Z x\n")]


async def test_missing_file_is_empty(tmp_path):
    assert await _collect(tmp_path / "none.log", LogOptions()) == []


async def test_follow_until_stopped(tmp_path):
    p = tmp_path / "c-json.log"
    _write(p, [("stdout", "first\n")])
    state = {"running": True}

    async def writer():
        await asyncio.sleep(0.1)
        _write(p, [("stdout", "second\n")])
        await asyncio.sleep(0.1)
        state["running"] = False

    task = asyncio.create_task(writer())
    out = await asyncio.wait_for(
        _collect(p, LogOptions(follow=True), lambda: state["running"]), 5
    )
    await task
    assert out == [(1, b"first\n"), (1, b"second\n")]
