"""Errors of the orchestrator package.

OrchestratorError       base; the loops log and retry rather than raise, so
                        this only marks misuse (a component started twice)
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base of the orchestrators' errors."""
