"""Docker's stream framing: the 8-byte multiplexing header of non-tty output."""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR = 0, 1, 2
RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


def frame(stream: int, data: bytes) -> bytes:
    """Return DATA with the header [stream, 0, 0, 0, size(BE32)]."""
    return struct.pack(">BxxxL", stream, len(data)) + data


def encode(stream: int, data: bytes, tty: bool) -> bytes:
    """Return the bytes to send: raw for a tty, framed otherwise."""
    return data if tty else frame(stream, data)
