"""Errors of the scheduler package.

SchedulerError              base of everything below
└── InvalidConstraint       a placement constraint or preference that cannot be
                            parsed ("node.labels.zone=east"); the control API
                            maps it to INVALID_ARGUMENT / 400 when validating a
                            spec, the scheduler itself never raises it (such a
                            task fits no node, and says so)
"""

from __future__ import annotations


class SchedulerError(Exception):
    """Base of the scheduler's errors."""


class InvalidConstraint(SchedulerError):
    """A constraint expression that cannot be parsed."""
