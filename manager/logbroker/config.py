"""Log broker settings: a dataclass with documented defaults (DESIGN §8.5)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LogBrokerConfig:
    """How long the broker waits for nodes and how much it buffers.

    node_timeout:   a subscription without follow gives up on a node that has
                    neither closed it nor published anything for this many
                    seconds (it is down, disconnected, or served by another
                    manager); the client then gets the "incomplete log stream"
                    warning naming it.
    max_pending:    batches queued for a slow client before publishers wait
                    (backpressure reaches the agents through gRPC flow control).
    """

    node_timeout: float = 10.0
    max_pending: int = 256
