"""The log broker: clients subscribe to a service's logs, agents serve and publish them.

Every manager runs one (docs/logs.md). A client (the REST route, through
shoal/node.py) calls `subscribe`; the broker finds the nodes that run the
service's tasks and sends the subscription to those whose agents listen here
(`listen`, one stream per node, kept open for as long as its session); an
agent that starts listening later gets the subscriptions that wait for it.
Agents `publish` batches of lines, checked against the store: a node speaks
only for its own tasks of the subscribed service. With follow, nodes that
receive a task of the service later join the subscription; when the client
leaves, the agents are told to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from shoal.manager.logbroker.config import LogBrokerConfig
from shoal.manager.logbroker.errors import BrokerStopped, PermissionDenied, SubscriptionGone
from shoal.manager.logbroker.subscription import NodeState, Subscription
from shoal.manager.store import Action, Event, Store
from shoal.proto.shoal.v1.logbroker_pb2 import (
    LogSelector,
    LogSubscriptionOptions,
    PublishLogsMessage,
    SubscriptionMessage,
)
from shoal.proto.shoal.v1.objects_pb2 import Node, NodeStatus, Task

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Listener:
    node_id: str
    messages: asyncio.Queue[SubscriptionMessage | None] = field(default_factory=asyncio.Queue)


class LogBroker:
    """Routes log subscriptions to the agents and their logs back to the clients."""

    def __init__(self, store: Store, config: LogBrokerConfig | None = None) -> None:
        self.store = store
        self.config = config or LogBrokerConfig()
        self._listeners: dict[str, _Listener] = {}
        self._subs: dict[str, Subscription] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self.running = False

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        """End every listener and subscription."""
        self.running = False
        for sub in list(self._subs.values()):
            self._end(sub)
        for listener in list(self._listeners.values()):
            listener.messages.put_nowait(None)
        self._listeners.clear()

    async def __aenter__(self) -> LogBroker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # Clients.

    @contextlib.asynccontextmanager
    async def subscribe(
        self, service_id: str, options: LogSubscriptionOptions
    ) -> AsyncIterator[Subscription]:
        """Subscribe to SERVICE_ID's logs; iterate the Subscription, read its warning() after.

        Leaving the context ends the subscription and tells the agents to stop.
        """
        self._check_running()
        sub = Subscription(
            secrets.token_hex(12), LogSelector(service_ids=[service_id]), options,
            node_timeout=self.config.node_timeout, max_pending=self.config.max_pending,
        )
        self._subs[sub.id] = sub
        if sub.follow:
            # subscribe before reading the cache: no task placed in between is missed
            changes = self.store.subscribe(Task, where=lambda e: _placed_task(e, service_id))
            self._watchers[sub.id] = asyncio.create_task(
                self._follow_tasks(sub, changes), name=f"logs-{sub.id[:8]}")
        for task in self.store.cache.tasks_by_service(service_id, copy=False):
            if task.node_id:
                self._involve(sub, task.node_id)
        log.debug("log subscription %s for service %s: nodes %s", sub.id[:8], service_id,
                  sorted(sub.nodes))
        try:
            yield sub
        finally:
            self._end(sub)

    # Agents.

    async def listen(self, node_id: str) -> AsyncIterator[SubscriptionMessage]:
        """Yield the subscriptions NODE_ID must serve, and their cancellations, until it goes."""
        self._check_running()
        old = self._listeners.get(node_id)
        if old is not None:
            old.messages.put_nowait(None)  # a reconnect replaces the previous stream
        listener = _Listener(node_id)
        self._listeners[node_id] = listener
        for sub in list(self._subs.values()):
            if sub.wants(node_id):
                self._send(listener, sub)
        try:
            while True:
                msg = await listener.messages.get()
                if msg is None:
                    return
                yield msg
        finally:
            if self._listeners.get(node_id) is listener:
                del self._listeners[node_id]

    async def publish(self, node_id: str, msg: PublishLogsMessage) -> None:
        """Hand NODE_ID's batch to its subscription's client (waiting while it lags).

        The node id of every line is set to NODE_ID. Raises SubscriptionGone
        if the client left, PermissionDenied (and delivers nothing) if the
        node was not asked, or names a task of another node or service. Lines
        of tasks the store no longer has cannot be checked and are dropped.
        """
        sub = self._subs.get(msg.subscription_id)
        if sub is None or sub.closed:
            raise SubscriptionGone(f"log subscription {msg.subscription_id[:8]} is over")
        if node_id not in sub.nodes:
            raise PermissionDenied(
                f"node {node_id} was not asked for log subscription {sub.id[:8]}")
        services = set(sub.selector.service_ids)
        keep = []
        for m in msg.messages:
            task: Any = self.store.get(Task, m.context.task_id, copy=False)
            if task is None:
                continue
            if task.node_id != node_id or task.service_id not in services \
                    or m.context.service_id != task.service_id:
                raise PermissionDenied(
                    f"node {node_id} may not publish logs of task {m.context.task_id}")
            m.context.node_id = node_id
            keep.append(m)
        await sub.publish(node_id, keep, msg.close)

    # Introspection (tests, debugging).

    def subscriptions(self) -> list[Subscription]:
        return list(self._subs.values())

    def listening(self) -> list[str]:
        return sorted(self._listeners)

    # Internals.

    def _check_running(self) -> None:
        if not self.running:
            raise BrokerStopped("the log broker is not running")

    def _involve(self, sub: Subscription, node_id: str) -> None:
        node: Any = self.store.get(Node, node_id, copy=False)
        available = node is not None and node.status.state != NodeStatus.DOWN
        if not sub.add_node(node_id, available=available):
            return
        listener = self._listeners.get(node_id)
        if listener is not None and sub.wants(node_id):
            self._send(listener, sub)

    def _send(self, listener: _Listener, sub: Subscription) -> None:
        listener.messages.put_nowait(sub.message_for(listener.node_id))
        sub.sent(listener.node_id)

    def _end(self, sub: Subscription) -> None:
        if self._subs.pop(sub.id, None) is None:
            return
        sub.close()
        log.debug("log subscription %s ended", sub.id[:8])
        watcher = self._watchers.pop(sub.id, None)
        if watcher is not None:
            watcher.cancel()
        for node_id, progress in sub.nodes.items():
            listener = self._listeners.get(node_id)
            if listener is not None and progress.state is NodeState.SENT:
                listener.messages.put_nowait(SubscriptionMessage(id=sub.id, close=True))

    async def _follow_tasks(self, sub: Subscription, changes: Any) -> None:
        with changes:
            async for event in changes:
                self._involve(sub, event.obj.node_id)


def _placed_task(event: Event, service_id: str) -> bool:
    """Return whether EVENT puts a task of SERVICE_ID on a node (new node for it, maybe)."""
    task: Any = event.obj
    if event.action is Action.DELETE or task.service_id != service_id or not task.node_id:
        return False
    old: Any = event.old
    return old is None or old.node_id != task.node_id
