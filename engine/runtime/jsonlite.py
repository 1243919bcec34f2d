"""Load and dump JSON with the C accelerator ``_json`` alone.

The shim must start in a few milliseconds, and ``import json`` costs ~7 ms
(it pulls in ``re`` and ``enum``). ``_json`` is the same C scanner and encoder
that ``json`` uses, without the Python layer. Stdlib only.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _ScanContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return float(name.replace("Infinity", "inf"))


_scan = _json.make_scanner(_ScanContext)  # type: ignore[arg-type]
_WS = " \t\n\r"


def loads(text: str) -> Any:
    """Parse one JSON document."""
    i = len(text) - len(text.lstrip(_WS))
    try:
        value, end = _scan(text, i)
    except StopIteration as exc:
        raise ValueError(f"invalid JSON at offset {exc.value}") from None
    if text[end:].strip(_WS):
        raise ValueError(f"extra data after JSON at offset {end}")
    return value


def _default(o: Any) -> Any:
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


_encode = _json.make_encoder(
    None, _default, _json.encode_basestring_ascii, None, ":", ",", False, False, True
)


def dumps(value: Any) -> str:
    """Serialise VALUE compactly (ASCII, no spaces)."""
    return "".join(_encode(value, 0))


def encode_string(s: str) -> str:
    """Return S as a quoted JSON string."""
    return str(_json.encode_basestring_ascii(s))
