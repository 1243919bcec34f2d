"""Agent settings: a dataclass with documented defaults (DESIGN §8.5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class AgentConfig:
    """Who the agent is and how it talks to the managers.

    node_id:      this node's id (the CN of its certificate; sent as call metadata
                  only on insecure channels, in tests and benchmarks).
    state_dir:    where assignments and task states are persisted
                  (<data_root>/swarm/agent); None keeps nothing (benchmarks).
    hostname, addr: override what the executor reports (addr: the address other
                  nodes reach this one at).
    labels:       engine labels (`shoald --label k=v`), reported in the description.
    role:         "worker" or "manager", claimed on insecure channels only.
    backoff_initial, backoff_max: reconnection delays (seconds), doubled per failure.
    report_interval: how long status changes are gathered before one
                  UpdateTaskStatus call (seconds).
    max_updates_per_request: at most this many task statuses per call.
    rpc_timeout:  deadline of unary calls (seconds).
    tls_server_name: the name managers' certificates carry (manager/ca/tls.py
                  checks servers by it, not by their address).
    """

    node_id: str
    state_dir: Path | None = None
    hostname: str = ""
    addr: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    role: str = "worker"
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    report_interval: float = 0.05
    max_updates_per_request: int = 1000
    rpc_timeout: float = 15.0
    tls_server_name: str = "swarm-manager"

    def __post_init__(self) -> None:
        if self.state_dir is not None:
            self.state_dir = Path(self.state_dir)
