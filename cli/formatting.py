"""Format output like the docker CLI: tables, human sizes and durations, statuses.

The rules are docker's (go-units HumanDuration/HumanSizeWithPrecision, the
tabwriter with min width 10 and padding 3, strconv.Quote'd commands) so that
scripts and eyes used to docker read shoal's output the same way.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_ZERO_TIME_PREFIX = "0001-01-01"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Lay out rows under headers like Go's tabwriter(minwidth=10, padding=3)."""
    all_rows = [list(headers), *[list(r) for r in rows]]
    if not all_rows[0]:
        return ""
    widths = [0] * len(all_rows[0])
    for row in all_rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    widths = [max(10, w + 3) for w in widths]
    lines = []
    for row in all_rows:
        parts = [cell + " " * (widths[i] - len(cell)) for i, cell in enumerate(row[:-1])]
        parts.append(row[-1])
        lines.append("".join(parts))
    return "\n".join(lines) + "\n"


def human_size(size: float, precision: int = 3) -> str:
    """Return a decimal size like go-units HumanSizeWithPrecision: ``4.26MB``, ``0B``."""
    i = 0
    while size >= 1000.0 and i < len(_DECIMAL_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.{precision}g}{_DECIMAL_UNITS[i]}"


def human_duration(seconds: float) -> str:
    """Return go-units HumanDuration: "Less than a second", "3 minutes", "About an hour"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def since(timestamp: float, now: float | None = None) -> str:
    """Return "N units ago" for a Unix timestamp."""
    now = time.time() if now is None else now
    return human_duration(now - timestamp) + " ago"


def parse_rfc3339(value: str) -> float | None:
    """Return the Unix time of an RFC 3339 timestamp, None for empty or Go's zero time."""
    if not value or value.startswith(_ZERO_TIME_PREFIX):
        return None
    try:
        date, _, clock = value.partition("T")
        y, mo, d = (int(x) for x in date.split("-"))
        offset = 0
        if clock.endswith(("Z", "z")):
            clock = clock[:-1]
        else:
            for sign in ("+", "-"):
                if sign in clock:
                    clock, _, off = clock.rpartition(sign)
                    oh, _, om = off.partition(":")
                    offset = (int(oh) * 3600 + int(om or 0) * 60) * (1 if sign == "+" else -1)
                    break
        hms, _, frac = clock.partition(".")
        h, mi, s = (int(x) for x in hms.split(":"))
        days = _days_from_civil(y, mo, d)
        secs = days * 86400 + h * 3600 + mi * 60 + s - offset
        return secs + (float("0." + frac) if frac else 0.0)
    except ValueError:
        return None


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Return days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def state_status(state: dict[str, object], now: float | None = None) -> str:
    """Return docker's status string for an inspect ``State``: "Up 3 seconds", "Exited (0) ..."."""
    now = time.time() if now is None else now
    started = parse_rfc3339(str(state.get("StartedAt") or ""))
    finished = parse_rfc3339(str(state.get("FinishedAt") or ""))
    code = state.get("ExitCode", 0)
    if state.get("Running"):
        up = human_duration(now - started) if started is not None else "Less than a second"
        if state.get("Paused"):
            return f"Up {up} (Paused)"
        if state.get("Restarting"):
            ago = human_duration(now - finished) if finished is not None else ""
            return f"Restarting ({code}) {ago} ago"
        health = state.get("Health")
        if isinstance(health, dict) and health.get("Status"):
            hs = str(health["Status"])
            return f"Up {up} ({'health: starting' if hs == 'starting' else hs})"
        return f"Up {up}"
    if state.get("Status") == "removing":
        return "Removal In Progress"
    if state.get("Dead") or state.get("Status") == "dead":
        return "Dead"
    if started is None:
        return "Created"
    if finished is None:
        return ""
    return f"Exited ({code}) {human_duration(now - finished)} ago"


def ellipsis(s: str, max_len: int) -> str:
    """Truncate to max_len characters, ending with "…" when cut (docker's Ellipsis)."""
    if len(s) <= max_len:
        return s
    if max_len <= 1:
        return s[:max_len]
    return s[: max_len - 1] + "…"


def go_quote(s: str) -> str:
    """Quote like Go's strconv.Quote (double quotes, backslash escapes, UTF-8 kept)."""
    out = ['"']
    for c in s:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def short_id(ident: str, trunc: bool = True) -> str:
    """Drop a ``sha256:`` prefix and keep 12 characters unless trunc is False."""
    if ident.startswith("sha256:"):
        ident = ident[7:]
    return ident[:12] if trunc else ident


def join_host_port(host: str, port: object) -> str:
    """Return Go's net.JoinHostPort: ``0.0.0.0:8080``, ``[::]:8080``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def display_ports(ports: Iterable[dict[str, object]]) -> str:
    """Return docker's PORTS column: "443/tcp, 0.0.0.0:8080->80/tcp, 8000-8001/udp".

    As docker's DisplayablePorts: consecutive ports published on the same port
    number (or only exposed) are grouped into ranges; host mappings come last.
    """
    def num(p: dict[str, object], key: str) -> int:
        return int(str(p.get(key) or 0))

    items = sorted(ports, key=lambda p: (num(p, "PrivatePort"), str(p.get("IP") or ""),
                                         num(p, "PublicPort"), str(p.get("Type") or "")))
    groups: dict[str, list[int]] = {}
    result: list[str] = []
    mappings: list[str] = []
    for p in items:
        private, proto, ip = num(p, "PrivatePort"), str(p.get("Type") or ""), str(p.get("IP") or "")
        key = proto
        if ip:
            if num(p, "PublicPort") != private:
                mappings.append(f"{join_host_port(ip, p.get('PublicPort'))}->{private}/{proto}")
                continue
            key = f"{ip}/{proto}"
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(_port_group(key, *group))
            groups[key] = [private, private]
    result += [_port_group(key, *g) for key, g in groups.items()]
    return ", ".join(result + mappings)


def _port_group(key: str, first: int, last: int) -> str:
    ip, _, proto = key.rpartition("/")
    span = str(first) if first == last else f"{first}-{last}"
    if ip:
        span = f"{join_host_port(ip, span)}->{span}"
    return f"{span}/{proto}"


def natural_key(s: str) -> list[tuple[str, int]]:
    """Return a sort key ordering "web2" before "web10" (docker's sortorder.NaturalLess)."""
    out = []
    i, n = 0, len(s)
    while i < n:
        j = i
        while j < n and not "0" <= s[j] <= "9":
            j += 1
        k = j
        while k < n and "0" <= s[k] <= "9":
            k += 1
        out.append((s[i:j], int(s[j:k]) if k > j else -1))
        i = k
    return out


def container_names(names: Iterable[str], trunc: bool = True) -> str:
    """Return the NAMES column: names without the leading slash, links hidden when trunc."""
    out = []
    for name in names:
        bare = name[1:] if name.startswith("/") else name
        if trunc and "/" in bare:
            continue
        out.append(bare)
    return ",".join(out)
