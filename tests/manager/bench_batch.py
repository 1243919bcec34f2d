"""Measure how many tasks per second the store writes into etcd, batched and one by one.

Run: .venv/bin/python -m tests.manager.bench_batch [N]
Starts its own etcd in a temporary directory (on disk, with fsync), writes N
new tasks through Store.batch, then N/10 tasks with one Store.create each (the
peer: no batching), and prints both rates and their ratio.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from shoal.manager.etcd import EtcdConfig, EtcdProcess, connect
from shoal.manager.store import Create, Store
from tests.manager.test_store import service, task


async def main(n: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="shoal-bench-"))
    try:
        async with EtcdProcess(EtcdConfig(data_dir=base / "etcd")) as etcd:
            async with connect([etcd.endpoint]) as client, Store(client) as store:
                svc = await store.create(service("bench"))
                tasks = [task(svc.id, slot, payload=400) for slot in range(1, n + 1)]
                size = len(tasks[0].SerializeToString())
                t0 = time.perf_counter()
                result = await store.batch([Create(t) for t in tasks])
                batched = time.perf_counter() - t0
                await store.wait_for(result.revision, timeout=60)
                cached = time.perf_counter() - t0
                assert result.written == n and not result.errors

                single_n = max(1, n // 10)
                t0 = time.perf_counter()
                for slot in range(1, single_n + 1):
                    await store.create(task(svc.id, slot, payload=400))
                single = time.perf_counter() - t0
    finally:
        shutil.rmtree(base, ignore_errors=True)
    rate, single_rate = n / batched, single_n / single
    print(f"tasks of {size} bytes, {result.transactions} transactions")
    print(f"batched:    {n} tasks in {batched:.3f}s = {rate:,.0f} tasks/s "
          f"(in the watch cache after {cached:.3f}s)")  # fmt: skip
    print(f"one by one: {single_n} tasks in {single:.3f}s = {single_rate:,.0f} tasks/s")
    print(f"ratio batched/one-by-one: {rate / single_rate:.1f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
