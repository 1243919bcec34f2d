"""Resolve a container's ``--user`` against the /etc/passwd and /etc/group of its rootfs.

Follows runc's ``user.GetExecUser`` (what Docker uses): "" means root; a name
must exist in passwd; a numeric uid or gid may be absent from the files; with
an implicit group, the user's primary gid and its supplementary groups come
from the files; with an explicit group, there are no supplementary groups.
"""

from __future__ import annotations

from pathlib import Path

from .errors import UserNotFound
from .paths import secure_join

MAX_ID = 2**31 - 1


def _entries(rootfs: Path, name: str) -> list[list[str]] | None:
    """Return the colon-separated lines of ROOTFS/etc/NAME, or None if it does not exist."""
    path = Path(secure_join(str(rootfs), f"/etc/{name}"))
    try:
        text = path.read_text(errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def _int(s: str) -> int | None:
    try:
        v = int(s)
    except ValueError:
        return None
    return v if 0 <= v <= MAX_ID else None


def resolve_user(rootfs: Path, user: str) -> tuple[int, int, list[int]]:
    """Return (uid, gid, supplementary gids) for USER ("", name, uid, name:group, uid:gid)."""
    user_arg, _, group_arg = user.partition(":")
    uid_arg = _int(user_arg) if user_arg else None
    gid_arg = _int(group_arg) if group_arg else None
    if user_arg and uid_arg is None and user_arg.lstrip("-").isdigit():
        raise UserNotFound(f"uids and gids must be in range 0-{MAX_ID}")
    uid, gid = 0, 0
    matched_name = ""
    for row in _entries(rootfs, "passwd") or []:
        if len(row) < 4:
            continue
        row_uid, row_gid = _int(row[2]), _int(row[3])
        if row_uid is None or row_gid is None:
            continue
        if (not user_arg and row_uid == 0) or (
            user_arg and (row_uid == uid_arg if uid_arg is not None else row[0] == user_arg)
        ):
            matched_name, uid, gid = row[0], row_uid, row_gid
            break
    else:
        if user_arg:
            if uid_arg is None:
                raise UserNotFound(
                    f"unable to find user {user_arg}: no matching entries in passwd file"
                )
            uid = uid_arg
    groups: list[int] = []
    if group_arg or matched_name:
        found: list[int] = []
        for row in _entries(rootfs, "group") or []:
            if len(row) < 3 or (row_gid := _int(row[2])) is None:
                continue
            if not group_arg:
                members = row[3].split(",") if len(row) > 3 else []
                if matched_name in members:
                    found.append(row_gid)
            elif (gid_arg is not None and row_gid == gid_arg) or (
                gid_arg is None and row[0] == group_arg
            ):
                found.append(row_gid)
                break
        if group_arg:
            if found:
                gid = found[0]
            elif gid_arg is None:
                raise UserNotFound(
                    f"unable to find group {group_arg}: no matching entries in group file"
                )
            else:
                gid = gid_arg
        else:
            groups = found
    return uid, gid, groups
