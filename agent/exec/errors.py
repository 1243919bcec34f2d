"""Errors of executors and controllers, turned into task states by the driver.

ExecError                 base of everything below
├── TaskRejected          the task cannot run on this node at all (image
│                         missing, invalid spec): the task is REJECTED
├── TaskFailed            preparing or starting it failed: the task is FAILED
└── ContainerGone         the task's container disappeared (a re-adopted task
                          whose container was removed): the task is FAILED
"""

from __future__ import annotations


class ExecError(Exception):
    """Base of the executor's errors."""


class TaskRejected(ExecError):
    """The task cannot run on this node (REJECTED)."""


class TaskFailed(ExecError):
    """Preparing or starting the task failed (FAILED)."""


class ContainerGone(ExecError):
    """The task's container no longer exists (FAILED)."""
