"""Errors of the log broker, mapped to gRPC codes by the servicer only.

LogBrokerError              base of everything below
├── SubscriptionGone        no such subscription: its client left, or it ended
│                           (NOT_FOUND: the agent stops publishing for it)
├── PermissionDenied        a node publishes for a subscription it was not
│                           asked to serve, or for a task that runs elsewhere
│                           (PERMISSION_DENIED)
└── BrokerStopped           the broker is stopping or not started (UNAVAILABLE)

The caller's identity comes from the dispatcher's authenticators
(manager/dispatcher/auth.py), whose Unauthenticated passes through.
"""

from __future__ import annotations


class LogBrokerError(Exception):
    """Base of the log broker's errors."""


class SubscriptionGone(LogBrokerError):
    """The subscription is not (or no longer) known to this broker."""


class PermissionDenied(LogBrokerError):
    """The node may not publish these logs."""


class BrokerStopped(LogBrokerError):
    """The broker is stopping or not started."""
