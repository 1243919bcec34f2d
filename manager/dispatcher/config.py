"""Dispatcher settings: a dataclass with documented defaults (DESIGN §8.5)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DispatcherConfig:
    """How the dispatcher tracks liveness and batches its writes and messages.

    heartbeat_period:  seconds between heartbeats when the cluster object does
                       not set ClusterSpec.dispatcher.heartbeat_period.
    grace_multiplier:  a node is DOWN once period x this passes without a heartbeat.
    check_interval:    how often expired heartbeats are looked for (seconds).
    status_flush_interval: how long task status reports are buffered before one
                       batched store write (seconds).
    node_flush_interval: same for node registrations and state transitions.
    assignment_batch_interval: how long an assignment stream waits after a change
                       to send the changes that follow with it (coalescing bursts).
    max_changes_per_message: an INCREMENTAL message carries at most this many changes.
    network_state_interval: how long network changes are gathered before the
                       NetworkStates of the networks they touch are computed
                       again and their differences sent (seconds).
    expire_unknown_nodes: at start, nodes the store shows READY get one grace
                       window to open a session here before they are written DOWN
                       (a node kept alive by another manager's dispatcher is
                       written READY again by that dispatcher, see docs/agent.md).
    """

    heartbeat_period: float = 5.0
    grace_multiplier: float = 3.0
    check_interval: float = 0.5
    status_flush_interval: float = 0.01
    node_flush_interval: float = 0.02
    assignment_batch_interval: float = 0.02
    max_changes_per_message: int = 2000
    network_state_interval: float = 0.15
    expire_unknown_nodes: bool = True
