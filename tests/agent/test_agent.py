"""The agent against a real dispatcher (gRPC, real etcd) with the fake executor."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from shoal.agent import Agent, AgentConfig
from shoal.agent.exec.fake import FakeConfig, FakeExecutor
from shoal.manager.store import Create, Store
from shoal.proto.shoal.v1 import dispatcher_pb2 as pb
from shoal.proto.shoal.v1 import dispatcher_pb2_grpc as pb_grpc
from shoal.proto.shoal.v1.objects_pb2 import Node, NodeStatus, Task
from shoal.proto.shoal.v1.types_pb2 import TaskState
from tests.agent.conftest import Served, serve
from tests.manager.conftest import eventually
from tests.manager.dispatcher.helpers import task


def _state(store: Store, task_id: str) -> int:
    t = store.get(Task, task_id, copy=False)
    return t.status.state if t is not None else -1


def _agent(node_id: str, addrs: list[str], executor: FakeExecutor,
           state_dir: Path | None = None) -> Agent:
    cfg = AgentConfig(node_id=node_id, state_dir=state_dir, labels={"zone": "east"},
                      addr="192.0.2.7", report_interval=0.01, backoff_initial=0.05,
                      backoff_max=0.2)
    return Agent(cfg, executor, None, addrs)


async def test_agent_registers_and_runs_its_tasks(manager: Served, store: Store) -> None:
    agent = _agent("node-a", [manager.addr], FakeExecutor(hostname="fake-a"))
    await agent.start()
    try:
        await asyncio.wait_for(agent.connected.wait(), 10)
        node = store.get(Node, "node-a")
        assert node.status.state == NodeStatus.READY
        assert node.description.hostname == "fake-a"
        assert node.description.engine.labels["zone"] == "east"
        assert node.description.resources.nano_cpus > 0
        assert node.status.addr == "192.0.2.7"

        tasks = [task("node-a", slot=i) for i in range(1, 21)]
        await store.batch([Create(t) for t in tasks])
        await eventually(lambda: all(_state(store, t.id) == TaskState.RUNNING for t in tasks))
        running = store.get(Task, tasks[0].id)
        assert running.status.message == "started"
        assert running.status.container_status.pid > 0

        # scale down: desired SHUTDOWN -> SHUTDOWN; service removal: REMOVE -> container gone
        down = store.get(Task, tasks[0].id)
        down.desired_state = TaskState.SHUTDOWN
        gone = store.get(Task, tasks[1].id)
        gone.desired_state = TaskState.REMOVE
        from shoal.manager.store import Update

        await store.batch([Update(down), Update(gone)])
        await eventually(lambda: _state(store, down.id) == TaskState.SHUTDOWN)
        await eventually(lambda: _state(store, gone.id) == TaskState.SHUTDOWN)
        assert tasks[0].id in agent.executor.containers  # type: ignore[attr-defined]
        await eventually(lambda: tasks[1].id not in agent.executor.containers)  # type: ignore[attr-defined]
    finally:
        await agent.stop()


async def test_task_outcomes_are_reported(manager: Served, store: Store) -> None:
    ex = FakeExecutor(FakeConfig(run_for=0.1, exit_code=1, reject_images={"missing:1"}))
    agent = _agent("node-a", [manager.addr], ex)
    await agent.start()
    try:
        failing = task("node-a", slot=1)
        rejected = task("node-a", slot=2, image="missing:1")
        await store.batch([Create(failing), Create(rejected)])
        await eventually(lambda: _state(store, failing.id) == TaskState.FAILED)
        await eventually(lambda: _state(store, rejected.id) == TaskState.REJECTED)
        assert store.get(Task, failing.id).status.err == "task: non-zero exit (1)"
        assert "missing:1" in store.get(Task, rejected.id).status.err
    finally:
        await agent.stop()


async def test_agent_restart_readopts_running_tasks(
    manager: Served, store: Store, tmp_path: Path
) -> None:
    ex = FakeExecutor()
    agent = _agent("node-a", [manager.addr], ex, tmp_path / "agent")
    await agent.start()
    tasks = [task("node-a", slot=i) for i in range(1, 4)]
    await store.batch([Create(t) for t in tasks])
    await eventually(lambda: all(_state(store, t.id) == TaskState.RUNNING for t in tasks))
    pids = {t: c.pid for t, c in ex.containers.items()}
    await agent.stop()

    again = _agent("node-a", [manager.addr], ex, tmp_path / "agent")
    await again.start()
    try:
        # resumed from disk before any manager answered
        assert set(again.worker.runners) == {t.id for t in tasks}
        await asyncio.wait_for(again.connected.wait(), 10)
        await asyncio.sleep(0.3)
        assert {t: c.pid for t, c in ex.containers.items()} == pids  # not restarted
        assert all(_state(store, t.id) == TaskState.RUNNING for t in tasks)
    finally:
        await again.stop()


async def test_agent_moves_to_another_manager(store: Store) -> None:
    first, second = await serve(store), await serve(store)
    agent = _agent("node-a", [first.addr, second.addr], FakeExecutor())
    agent._next = 0  # start with the first
    await agent.start()
    try:
        await asyncio.wait_for(agent.connected.wait(), 10)
        assert agent.manager == first.addr
        await first.stop()
        await eventually(lambda: agent.manager == second.addr and agent.connected.is_set())
        t = task("node-a")
        await store.batch([Create(t)])
        await eventually(lambda: _state(store, t.id) == TaskState.RUNNING)
    finally:
        await agent.stop()
        await second.stop()


async def test_servicer_needs_an_identity_and_checks_sessions(manager: Served) -> None:
    async with grpc.aio.insecure_channel(manager.addr) as ch:
        stub = pb_grpc.DispatcherStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Heartbeat(pb.HeartbeatRequest(session_id="x"))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        md_a = (("shoal-node-id", "node-a"),)
        md_b = (("shoal-node-id", "node-b"),)
        call = stub.Session(pb.SessionRequest(), metadata=md_a)
        first = await call.read()
        assert first.session_id
        resp = await stub.Heartbeat(pb.HeartbeatRequest(session_id=first.session_id), metadata=md_a)
        assert resp.period.ToMilliseconds() == 300
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Heartbeat(pb.HeartbeatRequest(session_id=first.session_id), metadata=md_b)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Heartbeat(pb.HeartbeatRequest(session_id="stale"), metadata=md_a)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        call.cancel()
