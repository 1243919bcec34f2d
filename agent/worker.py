"""Applies assignments: one TaskRunner per assigned task, persisted as it changes.

A COMPLETE message is the full set: tasks it lacks are no longer this node's
and are shut down and removed, like REMOVE changes. NetworkStates are kept,
latest per network id (a COMPLETE message drops those it lacks), persisted,
and handed whole to the executor when it wires networks (NetworkStateSink).
Tasks the agent persisted before a restart get runners at once, before any
manager answers, so that their containers are re-adopted (and keep running)
even with every manager down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from shoal.agent.exec.driver import REMOVE, TaskRunner
from shoal.agent.exec.interfaces import Executor, NetworkStateSink
from shoal.agent.reporter import StatusReporter
from shoal.agent.storage import TaskStorage
from shoal.proto.shoal.v1.dispatcher_pb2 import AssignmentChange, AssignmentsMessage, NetworkState
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import TaskStatus

log = logging.getLogger(__name__)


class Worker:
    """The node's tasks and their runners."""

    def __init__(
        self, executor: Executor, storage: TaskStorage, reporter: StatusReporter
    ) -> None:
        self.executor = executor
        self.storage = storage
        self.reporter = reporter
        self.runners: dict[str, TaskRunner] = {}
        self._removals: dict[str, asyncio.Task[None]] = {}
        self.network_states: dict[str, NetworkState] = {}
        self.sink = executor if isinstance(executor, NetworkStateSink) else None

    async def start(self) -> None:
        """Resume the persisted network states and tasks (runners re-adopt the containers)."""
        self.network_states = self.storage.load_networks()
        if self.sink is not None and self.network_states:
            self.sink.network_states(dict(self.network_states))
        for task, status in self.storage.load():
            self._run(task, status)
        if self.runners:
            log.info("resumed %d persisted tasks", len(self.runners))

    async def stop(self) -> None:
        """Stop every runner; containers keep running for the next agent."""
        for job in list(self._removals.values()):
            job.cancel()
        for job in list(self._removals.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await job
        self._removals.clear()
        await asyncio.gather(*(r.stop() for r in self.runners.values()))
        self.runners.clear()
        if self.sink is not None:
            await self.sink.stop_networks()

    def apply(self, msg: AssignmentsMessage) -> None:
        """Apply a COMPLETE or INCREMENTAL message of the assignment stream."""
        seen: set[str] = set()
        nets_seen: set[str] = set()
        nets_changed = False
        for change in msg.changes:
            if change.assignment.HasField("network"):
                state = change.assignment.network
                nets_seen.add(state.network_id)
                nets_changed |= self._network(state, change.action == AssignmentChange.REMOVE)
                continue
            if not change.assignment.HasField("task"):
                continue  # secrets and configs: not used yet
            task = change.assignment.task
            seen.add(task.id)
            if change.action == AssignmentChange.REMOVE:
                self._forget(task.id)
            else:
                self._assign(task)
        if msg.type == AssignmentsMessage.COMPLETE:
            for task_id in [t for t in self.runners if t not in seen]:
                self._forget(task_id)
            for network_id in [n for n in self.network_states if n not in nets_seen]:
                nets_changed |= self._network(self.network_states[network_id], True)
        if nets_changed and self.sink is not None:
            self.sink.network_states(dict(self.network_states))

    def _network(self, state: NetworkState, remove: bool) -> bool:
        """Keep (or drop) the latest STATE of its network; return whether anything changed."""
        nid = state.network_id
        if remove:
            if self.network_states.pop(nid, None) is None:
                return False
            self.storage.delete_network(nid)
            return True
        if self.network_states.get(nid) == state:
            return False
        kept = NetworkState()
        kept.CopyFrom(state)
        self.network_states[nid] = kept
        self.storage.save_network(kept)
        return True

    def _assign(self, task: Task) -> None:
        runner = self.runners.get(task.id)
        if runner is None:
            self.storage.save_task(task)
            self._run(task, task.status)
            return
        if task.desired_state != runner.task.desired_state:
            self.storage.save_task(task)
        runner.update(task)
        if task.status.state < runner.status.state:
            # the manager missed a report (sent before a restart or a failover)
            self.reporter.report(task.id, runner.status)

    def _run(self, task: Task, status: TaskStatus) -> None:
        runner = TaskRunner(task, self.executor.controller(task), self._report, status)
        self.runners[task.id] = runner
        runner.start()

    def _report(self, task_id: str, status: TaskStatus) -> None:
        self.storage.save_status(task_id, status)
        self.reporter.report(task_id, status)

    def _forget(self, task_id: str) -> None:
        """Shut the task down, remove its container, then drop it."""
        runner = self.runners.get(task_id)
        if runner is None or task_id in self._removals:
            return
        gone: Any = Task()
        gone.CopyFrom(runner.task)
        gone.desired_state = REMOVE
        runner.update(gone)
        self._removals[task_id] = asyncio.create_task(self._drop(runner))

    async def _drop(self, runner: TaskRunner) -> None:
        try:
            await runner.removed.wait()
            await runner.stop()
            self.runners.pop(runner.task_id, None)
            self.storage.delete(runner.task_id)
        finally:
            self._removals.pop(runner.task_id, None)
