"""Read and write durations as Go's time package does (``1m30s``, ``500ms``, ``0``).

Swarm specs carry durations as integer nanoseconds; users write them the Go
way on the command line (``--update-delay 10s``) and in Compose files
(``stop_grace_period: 1m30s``), and `service inspect --pretty` prints them
with Go's Duration.String().
"""

from __future__ import annotations

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
          "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_MAX = (1 << 63) - 1


def parse_duration(value: str) -> int:
    """Return the nanoseconds of a Go duration such as ``1h2m3.5s`` or ``-300ms``.

    The error wording is Go's (``time: invalid duration "x"``), which the
    flag parser shows as ``invalid argument "x" for "--update-delay" flag: ...``.
    """
    quoted = '"' + value + '"'
    s = value
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0.0
    whole_total = 0
    while s:
        i = 0
        while i < len(s) and (s[i].isdigit() or s[i] == "."):
            i += 1
        num = s[:i]
        if not num or num == "." or num.count(".") > 1:
            raise ValueError(f"time: invalid duration {quoted}")
        s = s[i:]
        j = 0
        while j < len(s) and not (s[j].isdigit() or s[j] == "."):
            j += 1
        unit = s[:j]
        s = s[j:]
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        whole, _, frac = num.partition(".")
        whole_total += int(whole or "0") * _UNITS[unit]
        if frac:
            total += float("0." + frac) * _UNITS[unit]
    ns = whole_total + round(total)
    if ns > _MAX:
        raise ValueError(f"time: invalid duration {quoted}")
    return -ns if neg else ns


def format_duration(ns: int) -> str:
    """Return Go's Duration.String(): ``1m30s``, ``1.5s``, ``500ms``, ``1h0m0s``, ``0s``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _frac(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    secs = _frac(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}"
    if minutes:
        return f"{sign}{minutes}m{secs}"
    return sign + secs


def _frac(value: int, unit: int) -> str:
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{str(rest).rjust(digits, '0').rstrip('0')}"
