"""Leader-only loops that turn services into tasks, and clean up after them.

    loops = [
        ReplicatedOrchestrator(store),             # slots 1..replicas, restarts, node loss
        GlobalOrchestrator(store),                 # one task per eligible node
        TaskReaper(store),                         # removed tasks, history limit
    ]
    await asyncio.gather(*(loop.run() for loop in loops))   # until cancelled

Each orchestrator makes its own RestartSupervisor (pass one only to keep a
reference to it; it calls back the orchestrator that owns it, so never share
one). Every loop reads the watch cache only, reconciles everything when it starts,
then reacts to change events in coalesced ticks, each written as one
`Store.batch` (loop.py). See docs/scheduler.md.
"""

from shoal.manager.orchestrator.errors import OrchestratorError
from shoal.manager.orchestrator.global_ import GlobalOrchestrator
from shoal.manager.orchestrator.loop import Reconciler
from shoal.manager.orchestrator.reaper import DEFAULT_RETENTION, TaskReaper, retention_limit
from shoal.manager.orchestrator.replicated import ReplicatedOrchestrator
from shoal.manager.orchestrator.restart import RestartSupervisor, Verdict
from shoal.manager.orchestrator.tasks import new_task
from shoal.manager.orchestrator.update import Updater

__all__ = [
    "DEFAULT_RETENTION",
    "GlobalOrchestrator",
    "OrchestratorError",
    "Reconciler",
    "ReplicatedOrchestrator",
    "RestartSupervisor",
    "TaskReaper",
    "Updater",
    "Verdict",
    "new_task",
    "retention_limit",
]
