"""shoal: a multi-host container orchestrator (engine + Swarm-style cluster)."""

__version__ = "0.1.0"
API_VERSION = "1.44"
MIN_API_VERSION = "1.24"
