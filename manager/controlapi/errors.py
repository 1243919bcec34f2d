"""Errors of the Control API's logic, mapped to gRPC codes only by the servicer.

ControlError                base of the errors below
├── InvalidArgument         the request or spec is invalid (INVALID_ARGUMENT)
├── FailedPrecondition      the request is valid but the cluster's state forbids
│                           it: removing a node that is up, demoting the last
│                           manager, removing a network in use (FAILED_PRECONDITION)
└── Unimplemented           something Docker does not support either, such as
                            renaming a service (UNIMPLEMENTED)

The logic also lets the store's errors through (manager/store/errors.py):
NotFound (NOT_FOUND), AlreadyExists (ALREADY_EXISTS), VersionConflict
("update out of sequence", ABORTED), InvalidObject (INVALID_ARGUMENT) and
StoreUnavailable (UNAVAILABLE). Messages are Docker's where Docker has one.
"""

from __future__ import annotations


class ControlError(Exception):
    """Base of the Control API's own errors."""


class InvalidArgument(ControlError):
    """The request or its spec is invalid."""


class FailedPrecondition(ControlError):
    """The cluster's current state forbids the request."""


class Unimplemented(ControlError):
    """The request asks for something not supported."""
