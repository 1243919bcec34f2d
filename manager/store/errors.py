"""Errors of the store, mapped to gRPC codes and HTTP statuses by the API layers only.

StoreError                  base of everything below
├── NotFound                no object of that kind with that id (NOT_FOUND, 404)
├── AlreadyExists           the id, or a name unique to its kind, is taken
│                           (ALREADY_EXISTS, 409)
├── VersionConflict         the object changed since it was read: its
│                           meta.version is stale (ABORTED / 409; re-read, retry)
├── InvalidObject           the object cannot be stored as given: unknown kind,
│                           no id, a renamed unique name, too large for one
│                           etcd request (INVALID_ARGUMENT, 400)
└── StoreUnavailable        etcd cannot be reached, timed out, or the cache is
                            not synced (UNAVAILABLE, 503; retry later)
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors."""


class NotFound(StoreError):
    """No object of that kind with that id."""

    def __init__(self, kind: str, obj_id: str) -> None:
        super().__init__(f"{kind.rstrip('s')} {obj_id} not found")
        self.kind = kind
        self.obj_id = obj_id


class AlreadyExists(StoreError):
    """The id, or the name (for kinds with unique names), is already taken."""

    def __init__(self, kind: str, what: str, existing_id: str = "") -> None:
        super().__init__(f"{kind.rstrip('s')} {what} already exists")
        self.kind = kind
        self.what = what
        self.existing_id = existing_id


class VersionConflict(StoreError):
    """The stored object's version differs from the one the write was based on."""

    def __init__(self, kind: str, obj_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"update out of sequence: {kind.rstrip('s')} {obj_id} is at version {actual}, "
            f"not {expected}"
        )
        self.kind = kind
        self.obj_id = obj_id
        self.expected = expected
        self.actual = actual


class InvalidObject(StoreError):
    """The object cannot be stored as given."""


class StoreUnavailable(StoreError):
    """etcd cannot be reached or did not answer in time, or the cache is not synced."""
