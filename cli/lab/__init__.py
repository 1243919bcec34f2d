"""`shoal lab`: multi-host lab clusters on one machine, hosts in network namespaces.

Like kind or k3d for Kubernetes: each host is a network namespace on an
isolated underlay bridge, running its own shoald (docs/lab.md). The Python
API (`Lab`, `LabHost`) is what e2e/ and the benchmarks use; the CLI commands
in cli/commands/lab.py are thin wrappers around it.

Names are loaded lazily: the CLI's host resolution imports only `.model`
(a file read) on every command, and must not pay for netlink and friends.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidLabSpec, LabError, LabExists, LabNotFound, LabSystemError

__all__ = ["InvalidLabSpec", "Lab", "LabError", "LabExists", "LabHost", "LabNotFound",
           "LabSystemError"]


def __getattr__(name: str) -> Any:
    if name == "Lab":
        from .lab import Lab

        return Lab
    if name == "LabHost":
        from .labhost import LabHost

        return LabHost
    raise AttributeError(name)
