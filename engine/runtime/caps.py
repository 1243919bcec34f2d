"""Name the Linux capabilities and hold Docker's default set.

Stdlib only, no imports: the shim loads it as a sibling script module, the
daemon as ``shoal.engine.runtime.caps`` (to validate --cap-add/--cap-drop).
Names are accepted with or without the ``CAP_`` prefix, in any case.
"""

from __future__ import annotations

NUMBERS = {
    "CHOWN": 0,
    "DAC_OVERRIDE": 1,
    "DAC_READ_SEARCH": 2,
    "FOWNER": 3,
    "FSETID": 4,
    "KILL": 5,
    "SETGID": 6,
    "SETUID": 7,
    "SETPCAP": 8,
    "LINUX_IMMUTABLE": 9,
    "NET_BIND_SERVICE": 10,
    "NET_BROADCAST": 11,
    "NET_ADMIN": 12,
    "NET_RAW": 13,
    "IPC_LOCK": 14,
    "IPC_OWNER": 15,
    "SYS_MODULE": 16,
    "SYS_RAWIO": 17,
    "SYS_CHROOT": 18,
    "SYS_PTRACE": 19,
    "SYS_PACCT": 20,
    "SYS_ADMIN": 21,
    "SYS_BOOT": 22,
    "SYS_NICE": 23,
    "SYS_RESOURCE": 24,
    "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26,
    "MKNOD": 27,
    "LEASE": 28,
    "AUDIT_WRITE": 29,
    "AUDIT_CONTROL": 30,
    "SETFCAP": 31,
    "MAC_OVERRIDE": 32,
    "MAC_ADMIN": 33,
    "SYSLOG": 34,
    "WAKE_ALARM": 35,
    "BLOCK_SUSPEND": 36,
    "AUDIT_READ": 37,
    "PERFMON": 38,
    "BPF": 39,
    "CHECKPOINT_RESTORE": 40,
}

# Docker's default set (moby oci/caps/defaults.go); its mask is 0xa80425fb.
DEFAULT = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]


def normalize(name: str) -> str:
    """Return NAME as ``CAP_X``; raise ValueError for an unknown capability."""
    short = name.strip().upper()
    if short.startswith("CAP_"):
        short = short[4:]
    if short not in NUMBERS:
        raise ValueError(f"unknown capability: {name!r}")
    return "CAP_" + short


def mask(names: list[str]) -> int:
    """Return the bit mask of the capabilities NAMES."""
    m = 0
    for n in names:
        m |= 1 << NUMBERS[normalize(n)[4:]]
    return m


def adjust(add: list[str], drop: list[str], base: list[str] | None = None) -> list[str]:
    """Apply --cap-add/--cap-drop to BASE (Docker's default set) the way Docker does.

    "ALL" in ADD grants every capability; "ALL" in DROP starts from none, and
    then only ADD counts.
    """
    start = DEFAULT if base is None else base
    upper_add = {a.strip().upper() for a in add}
    upper_drop = {d.strip().upper() for d in drop}
    if "ALL" in upper_add:
        result = ["CAP_" + n for n in NUMBERS]
    elif "ALL" in upper_drop:
        result = []
    else:
        result = [normalize(c) for c in start]
    dropped = {normalize(d) for d in upper_drop if d != "ALL"}
    result = [c for c in result if c not in dropped]
    for a in upper_add:
        if a != "ALL" and normalize(a) not in result:
            result.append(normalize(a))
    return result
