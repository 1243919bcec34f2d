"""Errors of the dispatcher, mapped to gRPC codes by the servicer only.

DispatcherError             base of everything below
├── SessionInvalid          no such session for this node (expired, replaced, or
│                           opened on another manager): open a new one (NOT_FOUND)
├── PermissionDenied        the caller acts for another node: someone else's
│                           session or task (PERMISSION_DENIED)
├── Unauthenticated         the call carries no node identity (UNAUTHENTICATED)
└── DispatcherStopped       this dispatcher is shutting down: try another
                            manager (UNAVAILABLE)

Store errors (manager/store/errors.py) pass through and are mapped as the
store documents them.
"""

from __future__ import annotations


class DispatcherError(Exception):
    """Base of the dispatcher's errors."""


class SessionInvalid(DispatcherError):
    """The session id is unknown to this dispatcher for this node."""


class PermissionDenied(DispatcherError):
    """The caller may not act on this session or task."""


class Unauthenticated(DispatcherError):
    """The call carries no node identity."""


class DispatcherStopped(DispatcherError):
    """The dispatcher is stopping or not started."""
