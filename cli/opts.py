"""Parse option values the way the docker CLI does: sizes, CPUs, env, labels, filters.

Every parser raises ValueError with docker's wording for the value; the flag
parser wraps it into ``invalid argument "V" for "-m, --memory" flag: ...``.
No regular expressions and no heavy imports: this module is on `shoal run`'s path.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_BINARY = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_WHITESPACE = " \t"

# Dockerfile instructions `docker import --change` accepts (the daemon applies them).
CHANGE_INSTRUCTIONS = frozenset(
    {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "ONBUILD", "USER", "VOLUME", "WORKDIR",
     "LABEL", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
)


def parse_size(value: str) -> int:
    """Return the bytes of a size such as ``512``, ``512k``, ``256m``, ``1g``, ``1.5GiB``.

    Units are binary (k = 1024), as docker's RAMInBytes: the grammar is
    ``NUMBER[ ][kmgtp][i][b]``, case-insensitive.
    """
    s = value
    if s[-1:] in ("b", "B"):
        s = s[:-1]
    if s[-1:] in ("i", "I"):
        s = s[:-1]
    unit = ""
    if s[-1:].lower() in ("k", "m", "g", "t", "p") and s[-1:]:
        unit = s[-1].lower()
        s = s[:-1]
    if s.endswith(" "):
        s = s[:-1]
    whole, dot, frac = s.partition(".")
    if not (_digits(whole) and (not dot or _digits(frac))):
        raise ValueError(f"invalid size: '{value}'")
    mult = _BINARY[unit]
    return int(float(s) * mult) if dot else int(whole) * mult


def _digits(s: str) -> bool:
    return s.isdigit() and s.isascii()


def parse_cpus(value: str) -> int:
    """Return NanoCpus for a CPU count such as ``0.5``, ``2`` or ``3/2``."""
    err = ValueError(f"failed to parse {value} as a rational number")
    s = value.strip()
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if "/" in s:
        num, _, den = s.partition("/")
        if not (num.isdigit() and den.isdigit()) or int(den) == 0:
            raise err
        nano, rem = divmod(int(num) * 1_000_000_000, int(den))
        if rem:
            raise ValueError("value is too precise")
        return sign * nano
    whole, dot, frac = s.partition(".")
    if not (whole or frac) or (whole and not whole.isdigit()) or (frac and not frac.isdigit()):
        raise err
    if dot and not frac and not whole:
        raise err
    if len(frac) > 9 and frac[9:].strip("0"):
        raise ValueError("value is too precise")
    frac = (frac[:9]).ljust(9, "0")
    return sign * (int(whole or "0") * 1_000_000_000 + int(frac))


def parse_env(value: str) -> str:
    """Return a ``-e`` value: ``K=V`` as is, ``K`` filled from the local environment if set."""
    key, eq, _ = value.partition("=")
    if not key:
        raise ValueError(f"invalid environment variable: {value}")
    if eq:
        return value
    local = os.environ.get(key)
    return value if local is None else f"{key}={local}"


def parse_key_value_file(path: str, *, from_env: bool) -> list[str]:
    """Read an env or label file: ``K=V`` lines, ``#`` comments, ``K`` alone taken from env."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ValueError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from exc
    out: list[str] = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            line = raw.decode("utf-8").rstrip("\r").lstrip()
        except UnicodeDecodeError:
            raise ValueError(f"env file {path} contains invalid utf8 bytes at line {n}") from None
        if not line or line.startswith("#"):
            continue
        key, eq, val = line.partition("=")
        key = key.lstrip(_WHITESPACE)
        if any(c in key for c in _WHITESPACE):
            raise ValueError(f"poorly formatted environment: variable '{key}' contains whitespaces")
        if not key:
            raise ValueError(f"poorly formatted environment: no variable name on line '{line}'")
        if eq:
            out.append(f"{key}={val}")
        elif from_env:
            local = os.environ.get(key)
            if local is not None:
                out.append(f"{key.strip()}={local}")
        else:
            out.append(key)
    return out


def read_env(files: Iterable[str], values: Iterable[str]) -> list[str]:
    """Merge env files then ``-e`` values, in docker's order (later wins in the daemon)."""
    env: list[str] = []
    for path in files:
        env.extend(parse_key_value_file(path, from_env=True))
    env.extend(values)
    return env


def parse_labels(files: Iterable[str], values: Iterable[str]) -> dict[str, str]:
    """Return the labels map from label files and ``-l k=v`` values (``k`` alone is ``""``)."""
    labels: dict[str, str] = {}
    items = [kv for path in files for kv in parse_key_value_file(path, from_env=False)]
    for kv in [*items, *values]:
        key, _, val = kv.partition("=")
        labels[key] = val
    return labels


def validate_change(value: str) -> str:
    """Check that an ``import --change`` value starts with an instruction the daemon applies."""
    word = value.strip().split(None, 1)[0].upper() if value.strip() else ""
    if word not in CHANGE_INSTRUCTIONS:
        allowed = ", ".join(sorted(CHANGE_INSTRUCTIONS))
        raise ValueError(f"{word or 'empty'} is not a valid change command (allowed: {allowed})")
    return value


def parse_restart(value: str) -> dict[str, object]:
    """Return the RestartPolicy for ``no|always|unless-stopped|on-failure[:N]``."""
    name, _, count = value.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure", ""):
        raise ValueError(f"invalid restart policy '{name}'")
    if count and (name != "on-failure" or not count.isdigit()):
        raise ValueError(f"invalid restart policy format: {value}")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def split_reference(ref: str) -> tuple[str, str]:
    """Split ``name[:tag][@digest]`` into (name, tag or "@digest"); tag defaults to latest."""
    if "@" in ref:
        name, _, digest = ref.partition("@")
        return name, digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, "latest"


def validate_reference(ref: str) -> str:
    """Reject a reference that cannot name an image (upper case, spaces, empty parts)."""
    name, tag = split_reference(ref)
    first, _, rest = name.partition("/")
    path = rest if rest and ("." in first or ":" in first or first == "localhost") else name
    if path != path.lower():
        raise ValueError(f"invalid reference format: repository name ({name}) must be lowercase")
    ok = bool(path) and all(part and _name_chars(part) for part in path.split("/"))
    if "@" not in ref:
        ok = ok and 0 < len(tag) <= 128 and tag[0] not in ".-" and _name_chars(tag.lower())
    if not ok:
        raise ValueError("invalid reference format")
    return ref


def _name_chars(s: str) -> bool:
    return all(c.isascii() and (c.isalnum() or c in "._-") for c in s)


def parse_filter(value: str) -> str:
    """Check a ``-f key=value`` filter (encoded later by ``filters_json``)."""
    if "=" not in value:
        raise ValueError("bad format of filter (expected name=value)")
    return value


def split_csv(value: str) -> list[str]:
    """Split one CSV record as Go's encoding/csv does (``--mount``, ``--network k=v,...``).

    Fields are separated by commas; a field starting with a double quote runs to
    the closing quote (``""`` stands for a quote) and may hold commas.
    """
    fields: list[str] = []
    i, n = 0, len(value)
    while True:
        if i < n and value[i] == '"':
            i += 1
            parts = []
            while True:
                j = value.find('"', i)
                if j < 0:
                    raise ValueError('parse error: extraneous or missing " in quoted-field')
                parts.append(value[i:j])
                i = j + 1
                if value[i:i + 1] != '"':
                    break
                parts.append('"')
                i += 1
            if i < n and value[i] != ",":
                raise ValueError('parse error: extraneous or missing " in quoted-field')
            fields.append("".join(parts))
        else:
            j = value.find(",", i)
            j = n if j < 0 else j
            if '"' in value[i:j]:
                raise ValueError('parse error: bare " in non-quoted-field')
            fields.append(value[i:j])
            i = j
        if i >= n:
            return fields
        i += 1
