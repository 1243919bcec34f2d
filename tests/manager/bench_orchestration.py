"""Measure orchestration and scheduling alone: N nodes, one service of R replicas.

Run: .venv/bin/python -m tests.manager.bench_orchestration [NODES] [REPLICAS] [SERVICES]
Starts its own etcd in a temporary directory (on disk, with fsync), stores
NODES READY nodes, runs the replicated orchestrator, the scheduler, the task
reaper and FakeAgents (simulated agents that write RUNNING in batches) in
this one process, creates SERVICES services sharing REPLICAS replicas, and
prints the time until every task is created, assigned and RUNNING, the
placement rate, the scheduler's own compute per placement, and peak RSS.
bench/scale.py measures the same with real agents and the dispatcher.
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from shoal.manager.etcd import EtcdConfig, EtcdProcess, connect
from shoal.manager.orchestrator import ReplicatedOrchestrator, TaskReaper
from shoal.manager.scheduler import Scheduler
from shoal.manager.store import Action, Create, Event, Store
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import TaskState
from tests.manager.fakes import FakeAgents, add_nodes, make_service, running


async def main(nodes: int, replicas: int, services: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="shoal-bench-"))
    try:
        async with EtcdProcess(EtcdConfig(data_dir=base / "etcd")) as etcd:
            async with connect([etcd.endpoint]) as client, Store(client) as store:
                await add_nodes(store, nodes)
                sched = Scheduler(store)
                loops = (ReplicatedOrchestrator(store), sched, TaskReaper(store), FakeAgents(store))
                async with running(*loops):
                    marks = await _measure(store, sched, replicas, services)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    created, assigned, run = marks
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_placement = sched.busy_seconds / replicas * 1e6
    print(f"{nodes} nodes, {services} service(s), {replicas} replicas in all")
    print(f"all created after {created:.2f}s, assigned {assigned:.2f}s, RUNNING {run:.2f}s")
    print(f"placements: {replicas / assigned:,.0f}/s from service creation")
    print(f"scheduler compute: {per_placement:.0f} µs per placement in {sched.ticks} ticks")
    print(f"peak RSS of this process (etcd aside): {rss:.0f} MiB")


async def _measure(
    store: Store, sched: Scheduler, replicas: int, services: int
) -> tuple[float, float, float]:
    """Return when all tasks were created, assigned, RUNNING (seconds from the services)."""
    per = [replicas // services + (i < replicas % services) for i in range(services)]
    marks: dict[str, float] = {}
    counts = {"created": 0, "assigned": 0, "running": 0}
    done = asyncio.Event()
    t0 = time.perf_counter()

    def count(event: Event) -> bool:
        # runs as the cache applies each change: exact times, nothing queued
        t: Any = event.obj
        old: Any = event.old
        before = int(old.status.state) if old is not None else -1
        state = int(t.status.state)
        for name, threshold in (("assigned", TaskState.ASSIGNED), ("running", TaskState.RUNNING)):
            if before < threshold <= state:
                counts[name] += 1
        if event.action == Action.CREATE:
            counts["created"] += 1
        for name, n in counts.items():
            if n == replicas and name not in marks:
                marks[name] = time.perf_counter() - t0
        if len(marks) == 3:
            done.set()
        return False

    with store.subscribe(Task, where=count):
        t0 = time.perf_counter()
        await store.batch([Create(make_service(f"bench-{i}", n)) for i, n in enumerate(per)])
        await asyncio.wait_for(done.wait(), 120)
    return marks["created"], marks["assigned"], marks["running"]


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [1000, 10_000, 1][len(args) :])))  # type: ignore[arg-type]
