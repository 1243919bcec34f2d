"""Read Docker JSON with typed, path-named errors; write times and durations like Go does.

Docker's daemon decodes JSON with Go's encoding/json, so this reader does the
same things a Go client relies on: keys match case-insensitively (the Docker
SDK for Python sends {"replicated": {...}} for Mode.Replicated), `null` is the
same as an absent key, unknown keys are ignored. Values of the wrong type are
refused with the full path of the field
("Spec.TaskTemplate.Resources.Limits.MemoryBytes: must be an integer").
Durations are integer nanoseconds; times are RFC 3339 with nanoseconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from shoal.engine.errors import InvalidArgument

INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
ZERO_TIME = "0001-01-01T00:00:00Z"
E = TypeVar("E", bound=int)  # a protobuf enum


class Obj:
    """Read one JSON object; PATH names it in error messages."""

    def __init__(self, data: Any, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"{path}: must be an object")
        self.data = data
        self.path = path
        self._folded = {str(k).lower(): k for k in data}

    def at(self, key: str) -> str:
        """Return the path of KEY inside this object."""
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, what: str) -> InvalidArgument:
        """Return the error saying that KEY is wrong."""
        return InvalidArgument(f"{self.at(key)}: {what}")

    def get(self, key: str) -> Any:
        """Return KEY's value (matched case-insensitively), None when absent or null."""
        if key in self.data:
            return self.data[key]
        real = self._folded.get(key.lower())
        return None if real is None else self.data[real]

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def obj(self, key: str) -> Obj | None:
        """Return KEY as an object, None when absent."""
        v = self.get(key)
        return None if v is None else Obj(v, self.at(key))

    def objs(self, key: str) -> list[Obj]:
        """Return KEY as a list of objects."""
        return [Obj(v, f"{self.at(key)}[{i}]") for i, v in enumerate(self._list(key))]

    def text(self, key: str) -> str:
        v = self.get(key)
        if v is None:
            return ""
        if not isinstance(v, str):
            raise self.fail(key, "must be a string")
        return v

    def flag(self, key: str) -> bool:
        v = self.get(key)
        if v is None:
            return False
        if not isinstance(v, bool):
            raise self.fail(key, "must be a boolean")
        return v

    def integer(self, key: str, lo: int = -INT64_MAX - 1, hi: int = INT64_MAX) -> int | None:
        """Return KEY as an integer in [LO, HI], None when absent."""
        v = self.get(key)
        if v is None:
            return None
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(key, "must be an integer")
        if v < lo:
            raise self.fail(key, "must not be negative" if lo == 0 else f"must be at least {lo}")
        if v > hi:
            raise self.fail(key, f"must be at most {hi}")
        return v

    def uint(self, key: str, hi: int = UINT64_MAX) -> int | None:
        return self.integer(key, 0, hi)

    def number(self, key: str) -> float | None:
        v = self.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(key, "must be a number")
        return float(v)

    def strs(self, key: str) -> list[str]:
        """Return KEY as a list of strings ([] when absent)."""
        out = self._list(key)
        for i, v in enumerate(out):
            if not isinstance(v, str):
                raise InvalidArgument(f"{self.at(key)}[{i}]: must be a string")
        return list(out)

    def str_map(self, key: str) -> dict[str, str]:
        """Return KEY as a map of strings ({} when absent)."""
        v = self.get(key)
        if v is None:
            return {}
        if not isinstance(v, Mapping):
            raise self.fail(key, "must be an object of strings")
        for k, val in v.items():
            if not isinstance(val, str):
                raise InvalidArgument(f"{self.at(key)}.{k}: must be a string")
        return {str(k): val for k, val in v.items()}

    def duration(self, key: str) -> Duration | None:
        """Return KEY (integer nanoseconds) as a Duration, None when absent."""
        ns = self.integer(key)
        if ns is None:
            return None
        if ns < 0:
            raise self.fail(key, "must not be negative")
        d = Duration()
        d.FromNanoseconds(ns)
        return d

    def time(self, key: str) -> Timestamp | None:
        """Return KEY (an RFC 3339 time) as a Timestamp, None when absent."""
        v = self.get(key)
        if v is None:
            return None
        if not isinstance(v, str):
            raise self.fail(key, "must be an RFC 3339 time string")
        try:
            return parse_time(v)
        except ValueError:
            raise self.fail(key, f"invalid time {v!r}") from None

    def enum(self, key: str, names: Mapping[str, E], default: E | None = None) -> E:
        """Return the number of KEY's name in NAMES; DEFAULT when absent or empty."""
        v = self.text(key)
        if v == "" and default is not None:
            return default
        num = names.get(v.lower())
        if num is None:
            choices = ", ".join(f'"{n}"' for n in names)
            raise self.fail(key, f"invalid value {v!r} (want one of {choices})")
        return num

    def refuse_set(self, key: str, why: str = "not supported by shoal") -> None:
        """Refuse KEY when it holds anything but zero values (a setting shoal lacks)."""
        if _truthy(self.get(key)):
            raise self.fail(key, why)

    def _list(self, key: str) -> list[Any]:
        v = self.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.fail(key, "must be a list")
        return v


def _truthy(v: Any) -> bool:
    if isinstance(v, Mapping):
        return any(_truthy(x) for x in v.values())
    if isinstance(v, list):
        return any(_truthy(x) for x in v)
    return bool(v)


def ns(d: Duration) -> int:
    """Return D in nanoseconds."""
    return d.seconds * 1_000_000_000 + d.nanos


_TIME = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|z|[+-]\d\d:\d\d)$"
)


def parse_time(text: str) -> Timestamp:
    """Return the Timestamp of an RFC 3339 time with up to nanoseconds."""
    m = _TIME.match(text)
    if not m:
        raise ValueError(text)
    y, mo, d, h, mi, s = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
    nanos = int((m.group(7) or "0").ljust(9, "0"))
    zone = m.group(8)
    tz = UTC
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    when = datetime(y, mo, d, h, mi, s, tzinfo=tz)
    ts = Timestamp()
    ts.seconds = (when - _EPOCH) // timedelta(seconds=1)
    ts.nanos = nanos
    return ts


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_time(ts: Timestamp | None) -> str:
    """Return TS as Go's RFC3339Nano (trailing zeros of the fraction dropped)."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return ZERO_TIME
    when = _EPOCH + timedelta(seconds=ts.seconds)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.nanos:
        text += "." + f"{ts.nanos:09d}".rstrip("0")
    return text + "Z"


def put(out: dict[str, Any], key: str, value: Any) -> None:
    """Set KEY in OUT unless VALUE is empty (Go's `omitempty`)."""
    if value:
        out[key] = value
