"""The boundary between the agent and what runs tasks (DESIGN §8.2): Protocols.

An Executor describes the node and makes one Controller per task. The
driver (driver.py) calls the controller's steps in order and turns their
outcome into task states; the controller knows nothing of states. The
engine implementation is engine.py, the benchmark's fake is fake.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from shoal.proto.shoal.v1.dispatcher_pb2 import NetworkState
from shoal.proto.shoal.v1.objects_pb2 import NodeDescription, Task


@dataclass(frozen=True)
class Observed:
    """What a controller finds of its task's container (re-adoption after a restart).

    status: "absent" (no container), "created", "running" or "exited".
    """

    status: str
    container_id: str = ""
    pid: int = 0
    exit_code: int = 0


class Controller(Protocol):
    """Runs one task. Every step is idempotent: after a restart it may run again."""

    async def prepare(self, progress: Callable[[str], None] | None = None) -> None:
        """Make the task ready to start: image present (pulled), container created.

        PROGRESS, when given, is called with short texts on a long step
        ("pulling 12/40 MB"), at most a few times a second.
        Raises TaskRejected if it can never run here, TaskFailed otherwise.
        """
        ...

    async def start(self) -> Observed:
        """Start the task's process; return what runs (pid). Raises TaskFailed."""
        ...

    async def wait(self) -> int:
        """Wait until the task's process exits; return its exit code."""
        ...

    async def health(self, last: str) -> str:
        """Return the container's health as soon as it is not LAST ("": at once).

        "none" (no health check: never changes), "starting", "healthy" or
        "unhealthy". Raises ContainerGone when there is no container.
        """
        ...

    async def shutdown(self, grace: float | None) -> None:
        """Stop the process: its stop signal, then SIGKILL after GRACE seconds."""
        ...

    async def remove(self) -> None:
        """Remove what the task left on the node (its container); no error if gone."""
        ...

    async def inspect(self) -> Observed:
        """Return the state of the task's container, found by its name or labels."""
        ...


class Executor(Protocol):
    """Runs tasks on this node."""

    async def describe(self) -> NodeDescription:
        """Return this node's description (hostname, platform, resources, engine)."""
        ...

    def controller(self, task: Task) -> Controller:
        """Return the controller of TASK (cheap: nothing happens until a step runs)."""
        ...


@runtime_checkable
class NetworkStateSink(Protocol):
    """Wires this host's side of cluster networks (an Executor may also be one)."""

    def network_states(self, states: Mapping[str, NetworkState]) -> None:
        """Take the latest NetworkState of every network this node takes part in, by
        network id (a network missing from STATES was removed). Must not block: the
        work is done in the background, in order, the latest states winning."""
        ...

    async def stop_networks(self) -> None:
        """Wait for the background work to end (the agent stops)."""
        ...
