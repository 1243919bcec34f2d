"""The agent's side of service logs: serve the managers' log subscriptions (docs/logs.md).

While a session lasts, `LogAgent.run` keeps a ListenSubscriptions stream
open on the session's manager. For each subscription it reads the logs of
this node's tasks of the selected services, through a `LogSource`, and
publishes them on one PublishLogs stream, in batches. Without follow it then
sends `close`; with follow it keeps reading (and picks up the service's new
tasks here) until the manager cancels the subscription or the session ends.

`EngineLogSource` reads the containers of the local engine (through its
facade: containers.list and containers.logs), found by their
com.docker.swarm.* labels, so the logs of a task's container are there as
long as the container is, running or not.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import grpc

from shoal.proto.shoal.v1 import logbroker_pb2 as pb
from shoal.proto.shoal.v1 import logbroker_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

LABEL_SERVICE_ID = "com.docker.swarm.service.id"
LABEL_TASK_ID = "com.docker.swarm.task.id"
LABEL_NODE_ID = "com.docker.swarm.node.id"


@dataclass(frozen=True)
class TaskLog:
    """A task of this node whose logs can be read."""

    task_id: str
    service_id: str
    container_id: str


class LogSource(Protocol):
    """Where the agent reads its tasks' logs (the engine, or a fake in tests)."""

    def tasks(self, service_id: str) -> list[TaskLog]:
        """Return this node's tasks of SERVICE_ID that have logs (running or not)."""
        ...

    def read(self, task: TaskLog, options: pb.LogSubscriptionOptions) -> AsyncIterator[
            pb.LogMessage]:
        """Yield TASK's lines as OPTIONS ask (tail, since, streams, follow), with their context."""
        ...


@dataclass
class LogAgentConfig:
    """How the agent batches what it publishes.

    max_batch:      at most this many lines per PublishLogs message.
    max_batch_bytes: and at most about this many bytes of lines.
    pending:        lines read ahead of the manager before readers wait.
    poll_interval:  how often a followed subscription looks for new tasks (seconds).
    retry_delay:    wait before listening again after the stream failed (seconds).
    """

    max_batch: int = 500
    max_batch_bytes: int = 1 << 20
    pending: int = 2000
    poll_interval: float = 1.0
    retry_delay: float = 1.0


class LogAgent:
    """Serves this node's log subscriptions from SOURCE."""

    def __init__(self, source: LogSource, config: LogAgentConfig | None = None) -> None:
        self.source = source
        self.config = config or LogAgentConfig()
        self.jobs: dict[str, asyncio.Task[None]] = {}
        self.published = 0  # lines sent (tests, debugging)

    async def run(self, channel: grpc.aio.Channel, metadata: Sequence[tuple[str, str]]) -> None:
        """Serve subscriptions over CHANNEL until cancelled (never returns, never raises).

        A failed stream is listened to again after a delay: logs must never
        cost the node its session, and a manager without the service simply
        sends nothing.
        """
        stub = pb_grpc.LogBrokerStub(channel)
        while True:
            try:
                await self._listen(stub, tuple(metadata))
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None
                if code == grpc.StatusCode.UNIMPLEMENTED:
                    log.info("the manager gathers no logs")
                    await asyncio.Event().wait()
                log.debug("log subscriptions stream ended: %s", exc)
            await asyncio.sleep(self.config.retry_delay)

    async def _listen(self, stub: pb_grpc.LogBrokerStub, metadata: tuple[Any, ...]) -> None:
        call = stub.ListenSubscriptions(pb.ListenSubscriptionsRequest(), metadata=metadata)
        try:
            async for msg in call:
                if msg.close:
                    job = self.jobs.pop(msg.id, None)
                    if job is not None:
                        job.cancel()
                elif msg.id not in self.jobs:
                    job = asyncio.create_task(self._serve(stub, metadata, msg),
                                              name=f"logs-{msg.id[:8]}")
                    self.jobs[msg.id] = job
                    job.add_done_callback(functools.partial(self._done, msg.id))
        finally:
            call.cancel()
            jobs = list(self.jobs.values())
            self.jobs.clear()
            for job in jobs:
                job.cancel()
            for job in jobs:
                with contextlib.suppress(BaseException):
                    await job

    def _done(self, sub_id: str, job: asyncio.Task[None]) -> None:
        if self.jobs.get(sub_id) is job:
            del self.jobs[sub_id]

    async def _serve(self, stub: pb_grpc.LogBrokerStub, metadata: tuple[Any, ...],
                     sub: pb.SubscriptionMessage) -> None:
        """Read SUB's tasks here and publish their lines (then close, without follow)."""
        lines: asyncio.Queue[pb.LogMessage | None] = asyncio.Queue(self.config.pending)
        reading = asyncio.create_task(self._read_all(sub, lines))
        try:
            await stub.PublishLogs(self._batches(sub.id, lines), metadata=metadata)
        except grpc.RpcError as exc:
            # NOT_FOUND: the client left before this node was done
            log.debug("publishing logs of subscription %s ended: %s", sub.id[:8], exc)
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    async def _read_all(self, sub: pb.SubscriptionMessage,
                        lines: asyncio.Queue[pb.LogMessage | None]) -> None:
        """Read every task of SUB into LINES (None at the end, without follow).

        With follow, tasks that appear later are read from their first line:
        all of it is new to the client (tail is about what was there before).
        """
        readers: dict[str, asyncio.Task[None]] = {}
        options = sub.options
        try:
            while True:
                for service_id in sub.selector.service_ids:
                    for task in self.source.tasks(service_id):  # the engine is not threadsafe
                        if task.task_id not in readers:
                            readers[task.task_id] = asyncio.create_task(
                                self._read_one(task, options, lines))
                if options is sub.options:
                    options = pb.LogSubscriptionOptions()
                    options.CopyFrom(sub.options)
                    options.tail = -1
                if not sub.options.follow:
                    await asyncio.gather(*readers.values())
                    await lines.put(None)
                    return
                await asyncio.sleep(self.config.poll_interval)
        finally:
            for r in readers.values():
                r.cancel()
            for r in readers.values():
                with contextlib.suppress(asyncio.CancelledError):
                    await r

    async def _read_one(self, task: TaskLog, options: pb.LogSubscriptionOptions,
                        lines: asyncio.Queue[pb.LogMessage | None]) -> None:
        try:
            async for msg in self.source.read(task, options):
                await lines.put(msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the container went away: what was read is sent
            log.debug("reading the logs of task %s stopped: %s", task.task_id, exc)

    async def _batches(self, sub_id: str, lines: asyncio.Queue[pb.LogMessage | None]
                       ) -> AsyncIterator[pb.PublishLogsMessage]:
        """Yield LINES in batches of what is queued; the last one closes (None read)."""
        cfg = self.config
        done = False
        while not done:
            item = await lines.get()
            batch: list[pb.LogMessage] = []
            size = 0
            while True:
                if item is None:
                    done = True
                    break
                batch.append(item)
                size += len(item.data)
                if len(batch) >= cfg.max_batch or size >= cfg.max_batch_bytes:
                    break
                try:
                    item = lines.get_nowait()
                except asyncio.QueueEmpty:
                    break
            self.published += len(batch)
            yield pb.PublishLogsMessage(subscription_id=sub_id, messages=batch, close=done)


class EngineLogSource:
    """Reads the logs of NODE_ID's task containers in ENGINE (a shoal.engine.Engine)."""

    def __init__(self, engine: Any, node_id: str) -> None:
        self.engine = engine
        self.node_id = node_id

    def tasks(self, service_id: str) -> list[TaskLog]:
        found = []
        for c in self.engine.containers.list(all=True):
            labels = c.Config.get("Labels") or {}
            if labels.get(LABEL_SERVICE_ID) != service_id or not labels.get(LABEL_TASK_ID):
                continue
            if labels.get(LABEL_NODE_ID, self.node_id) != self.node_id:
                continue  # left by another identity of this host: not ours to publish
            found.append(TaskLog(labels[LABEL_TASK_ID], service_id, c.Id))
        return found

    async def read(self, task: TaskLog, options: pb.LogSubscriptionOptions
                   ) -> AsyncIterator[pb.LogMessage]:
        from shoal.engine.containers.logs import LogOptions

        streams = set(options.streams) or {pb.LOG_STREAM_STDOUT, pb.LOG_STREAM_STDERR}
        since = options.since.seconds + options.since.nanos / 1e9
        opts = LogOptions(stdout=pb.LOG_STREAM_STDOUT in streams,
                          stderr=pb.LOG_STREAM_STDERR in streams, follow=options.follow,
                          timestamps=True, tail=None if options.tail < 0 else options.tail,
                          since=since)
        _container, lines = self.engine.containers.logs(task.container_id, opts)
        context = pb.LogContext(service_id=task.service_id, node_id=self.node_id,
                                task_id=task.task_id)
        async for line in lines:
            stamp, _, data = line.data.partition(b" ")
            msg = pb.LogMessage(context=context, stream=line.stream, data=data)
            msg.timestamp.FromNanoseconds(parse_nanos(stamp.decode()))
            yield msg


def parse_nanos(ts: str) -> int:
    """Return the UNIX time in nanoseconds of an RFC 3339 UTC time; 0 if it is not one."""
    main, _, frac = ts.rstrip("Z").partition(".")
    try:
        when = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return 0
    digits = frac[:9] if frac.isdigit() else ""
    return calendar.timegm(when.timetuple()) * 1_000_000_000 + int(digits.ljust(9, "0"))
