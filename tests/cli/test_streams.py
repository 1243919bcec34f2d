"""Docker's stream framing: demultiplexing, raw copies, stdin pumping, detach keys."""

from __future__ import annotations

import io
import os
import socket

import pytest

from shoal.cli.client import Hijacked
from shoal.cli.errors import CLIError
from shoal.cli.streams import (
    Demuxer,
    Output,
    copy_output,
    frame,
    parse_detach_keys,
    stream_session,
)


def test_frame_header():
    assert frame(2, b"abc") == b"\x02\x00\x00\x00\x00\x00\x00\x03abc"


def test_demux_whole_frames():
    d = Demuxer()
    data = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"")
    assert d.feed(data) == [(1, b"out\n"), (2, b"err\n")]
    assert not d.partial


def test_demux_byte_by_byte():
    data = frame(1, b"hello") + frame(2, b"x" * 70000) + frame(0, b"in")
    d = Demuxer()
    pieces = [p for b in data for p in d.feed(bytes([b]))]
    joined: dict[int, bytes] = {}
    for stream, piece in pieces:
        joined[stream] = joined.get(stream, b"") + piece
    assert joined == {1: b"hello", 2: b"x" * 70000, 0: b"in"}


def test_demux_passes_partial_payloads_on():
    d = Demuxer()
    assert d.feed(frame(1, b"abcdef")[:10]) == [(1, b"ab")]
    assert d.partial
    assert d.feed(b"cdef") == [(1, b"cdef")]


def test_demux_rejects_bad_header():
    with pytest.raises(CLIError, match="Unrecognized input header: 7"):
        Demuxer().feed(b"\x07\x00\x00\x00\x00\x00\x00\x01x")


def test_copy_output_routes_streams_and_raw_tty():
    out, err = io.BytesIO(), io.BytesIO()
    chunks = [frame(1, b"o1"), frame(2, b"e1")[:5], frame(2, b"e1")[5:], frame(0, b"i")]
    copy_output(iter(chunks), False, Output(out, err))
    assert out.getvalue() == b"o1i" and err.getvalue() == b"e1"
    out = io.BytesIO()
    copy_output(iter([b"\x01\x00raw"]), True, Output(out, io.BytesIO()))
    assert out.getvalue() == b"\x01\x00raw"


def test_copy_output_system_error():
    with pytest.raises(CLIError, match="error from daemon in stream: boom"):
        copy_output(iter([frame(1, b"x"), frame(3, b"boom")]), False,
                    Output(io.BytesIO(), io.BytesIO()))


def test_session_pumps_stdin_and_half_closes():
    ours, theirs = socket.socketpair()
    r, w = os.pipe()
    os.write(w, b"stdin data")
    os.close(w)

    import threading

    def daemon_side() -> None:
        got = b""
        while chunk := theirs.recv(100):
            got += chunk
        theirs.sendall(frame(1, got.upper()))
        theirs.close()

    t = threading.Thread(target=daemon_side)
    t.start()
    out = io.BytesIO()
    session = stream_session(Hijacked(ours, frame(2, b"early"), {}), False, r,
                             Output(out, io.BytesIO()))
    t.join(5)
    os.close(r)
    assert out.getvalue() == b"STDIN DATA" and not session.detached


def test_detach_keys_leave_the_container_running():
    ours, theirs = socket.socketpair()
    r, w = os.pipe()
    os.write(w, b"ab\x10x\x10\x11ignored")
    out = io.BytesIO()
    session = stream_session(Hijacked(ours, b"", {}), True, r, Output(out, io.BytesIO()),
                             escape=b"\x10\x11")
    assert session.detached
    assert theirs.recv(100) == b"ab\x10x"
    os.close(w)
    os.close(r)
    theirs.close()


def test_parse_detach_keys():
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@,ctrl-[") == b"a\x00\x1b"
    with pytest.raises(ValueError, match="Unknown character"):
        parse_detach_keys("ctrl-pp")
