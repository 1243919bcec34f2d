"""Map engine errors to HTTP statuses (the only place this mapping happens)."""

from __future__ import annotations

from shoal.engine.errors import (
    Conflict,
    EngineError,
    InvalidArgument,
    NotFound,
    NotModified,
    SystemFailure,
)
from shoal.engine.images.registry.errors import (
    RegistryError,
    RegistryNotFound,
    Unauthorized,
)

_STATUS: list[tuple[type[EngineError], int]] = [
    (NotModified, 304),
    (Unauthorized, 401),
    (RegistryNotFound, 404),
    (RegistryError, 500),  # the registry failed, not the caller: before InvalidArgument
    (InvalidArgument, 400),
    (NotFound, 404),
    (Conflict, 409),
    (SystemFailure, 500),
]


def http_status(exc: EngineError) -> int:
    """Return the HTTP status for an engine error."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500
