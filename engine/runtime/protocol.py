"""Frame the messages between the daemon and a shim, on the shim's UNIX socket.

Every frame is a type byte, a 4-byte big-endian payload length, then the
payload. Requests are answered in order on the same connection; after ATTACH
the shim also pushes STDOUT/STDERR frames and, once the process has exited and
its output is drained, one END frame, then closes the connection.

    client -> shim                      shim -> client
    START        ""                     OK     {"pid": N}  | ERROR {...}
    STATE        ""                     OK     <state.json document>
    SIGNAL       {"signal": N}          OK     {}          | ERROR {...}
    RESIZE       {"height": H, "width": W}  OK {}
    ATTACH       {"stdin": bool}        OK     {}, then STDOUT/STDERR data ... END <state>
    STDIN        raw bytes              (no answer)
    STDIN_CLOSE  ""                     (no answer)

ERROR payloads are {"error": message, "kind": k, "exit_code": n} where kind
is "not_found", "permission", "conflict", "not_running" or "system".
Stdlib only, no imports (shared by the shim and the daemon's client).
"""

from __future__ import annotations

START = b"G"
STATE = b"S"
SIGNAL = b"K"
RESIZE = b"Z"
ATTACH = b"A"
STDIN = b"I"
STDIN_CLOSE = b"C"

OK = b"O"
ERROR = b"X"
STDOUT = b"1"
STDERR = b"2"
END = b"E"

HEADER_SIZE = 5
MAX_PAYLOAD = 1 << 20


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    """Encode one frame."""
    return kind + len(payload).to_bytes(4, "big") + payload


def parse_header(header: bytes) -> tuple[bytes, int]:
    """Decode a 5-byte header into (type, payload length)."""
    size = int.from_bytes(header[1:5], "big")
    if size > MAX_PAYLOAD:
        raise ValueError(f"frame too large: {size} bytes")
    return header[:1], size


def split_frames(buf: bytearray) -> list[tuple[bytes, bytes]]:
    """Remove and return the complete frames at the start of BUF."""
    out = []
    pos = 0
    while len(buf) - pos >= HEADER_SIZE:
        kind, size = parse_header(bytes(buf[pos : pos + HEADER_SIZE]))
        end = pos + HEADER_SIZE + size
        if len(buf) < end:
            break
        out.append((kind, bytes(buf[pos + HEADER_SIZE : end])))
        pos = end
    del buf[:pos]
    return out
