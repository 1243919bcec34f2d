"""Errors of `shoal lab` (the lab package never maps them to HTTP: it has no API).

Hierarchy:

    LabError            base; the message says what is wrong and where
      InvalidLabSpec    a bad name, host count or manager count (nothing was made)
      LabNotFound       no state file for that lab (or host) under the lab root
      LabExists         `lab up` of a name that already has a lab
      LabSystemError    a kernel or process step failed (ip, iptables, shoald)

The CLI command turns every LabError into a CLIError (exit 1).
"""

from __future__ import annotations


class LabError(Exception):
    """Report a lab failure; ``str(e)`` is printed to the user."""


class InvalidLabSpec(LabError):
    """Reject a lab description before anything is created."""


class LabNotFound(LabError):
    """Report that no lab (or lab host) of that name exists."""


class LabExists(LabError):
    """Refuse to create a lab whose name is taken."""


class LabSystemError(LabError):
    """Report a failed kernel or process step (with the command and its output)."""
