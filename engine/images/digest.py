"""Digests ("sha256:<64 hex>"): validation, hashing helpers and short ids."""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO

from shoal.engine.errors import InvalidArgument

ALGORITHM = "sha256"
_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
CHUNK = 1 << 20


def is_hex64(s: str) -> bool:
    """Tell whether S is 64 lowercase hex characters (a bare sha256)."""
    return bool(_HEX64.match(s))


def is_digest(s: str) -> bool:
    """Tell whether S is a full "sha256:<64 hex>" digest."""
    return bool(_DIGEST.match(s))


def check_digest(s: str, what: str = "digest") -> str:
    """Return S if it is a valid sha256 digest, else raise InvalidArgument naming WHAT."""
    if not is_digest(s):
        raise InvalidArgument(f"invalid {what} {s!r}: want sha256:<64 hex digits>")
    return s


def hex_of(digest: str) -> str:
    """Return the hex part of a "sha256:<hex>" digest (or the string itself if bare)."""
    return digest.split(":", 1)[1] if ":" in digest else digest


def short(digest: str, n: int = 12) -> str:
    """Return the first N hex digits of a digest, as Docker shows ids."""
    return hex_of(digest)[:n]


def describe(digest: str) -> str:
    """Return a short printable form of a digest for messages: "sha256:ab12cd34ef56…"."""
    return f"{ALGORITHM}:{short(digest)}…"


def of_bytes(data: bytes) -> str:
    """Return the sha256 digest of DATA."""
    return f"{ALGORITHM}:{hashlib.sha256(data).hexdigest()}"


def of_stream(stream: BinaryIO) -> tuple[str, int]:
    """Read STREAM to its end; return its digest and its length."""
    h = hashlib.sha256()
    n = 0
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        n += len(chunk)
    return f"{ALGORITHM}:{h.hexdigest()}", n


def chain_ids(diff_ids: list[str]) -> list[str]:
    """Return the OCI chain ids of a layer stack (bottom first).

    ChainID(L0) = DiffID(L0); ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)).
    """
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else of_bytes(f"{out[-1]} {d}".encode()))
    return out
