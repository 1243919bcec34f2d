"""The engine executor with a real Engine: busybox tasks run, stop, fail, are re-adopted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shoal.agent import Agent, AgentConfig
from shoal.agent.exec.driver import TaskRunner
from shoal.agent.exec.engine import EngineExecutor
from shoal.manager.store import Create, Store, Update
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.specs_pb2 import ContainerSpec, TaskSpec
from shoal.proto.shoal.v1.types_pb2 import PortConfig, TaskState, TaskStatus
from tests.agent.conftest import serve
from tests.agent.exec.conftest import EngineHost
from tests.manager.conftest import eventually

pytestmark = pytest.mark.root


def busybox_task(*args: str, slot: int = 1, node_id: str = "node-a") -> Task:
    t = Task(id=f"task{slot:021d}", service_id="svc1", slot=slot, node_id=node_id,
             desired_state=TaskState.RUNNING,
             spec=TaskSpec(container=ContainerSpec(image="busybox:latest", args=list(args))),
             status=TaskStatus(state=TaskState.ASSIGNED))  # type: ignore[arg-type]
    t.service_annotations.name = "web"
    c = t.spec.container
    c.env.append("GREETING=hello")
    c.labels["team"] = "blue"
    c.stop_grace_period.FromSeconds(1)
    t.spec.resources.limits.memory_bytes = 64 << 20
    t.spec.resources.limits.nano_cpus = 500_000_000
    return t


class Reports:
    def __init__(self) -> None:
        self.states: list[int] = []
        self.last: TaskStatus | None = None

    def __call__(self, task_id: str, status: TaskStatus) -> None:
        self.states.append(status.state)
        self.last = status


async def test_busybox_task_runs_and_shuts_down(host: EngineHost) -> None:
    engine = host.engine
    assert engine is not None
    t = busybox_task("sleep", "1000")
    t.endpoint.ports.add(target_port=80, published_port=0, publish_mode=PortConfig.HOST)
    reports = Reports()
    runner = TaskRunner(t, EngineExecutor(engine).controller(t), reports)
    runner.start()
    try:
        await eventually(lambda: reports.states[-1:] == [TaskState.RUNNING], 30)
        assert reports.states == [TaskState.ACCEPTED, TaskState.PREPARING, TaskState.READY,
                                  TaskState.STARTING, TaskState.RUNNING]
        c = engine.containers.get(f"web.1.{t.id}")
        assert c.running and c.State.Pid == reports.last.container_status.pid
        labels = c.Config["Labels"]
        assert labels["com.docker.swarm.task.id"] == t.id
        assert labels["com.docker.swarm.service.name"] == "web"
        assert labels["com.docker.swarm.node.id"] == "node-a"
        assert labels["team"] == "blue"
        assert "GREETING=hello" in c.Config["Env"]
        assert c.HostConfig["Memory"] == 64 << 20
        assert c.HostConfig["NanoCpus"] == 500_000_000
        assert "80/tcp" in c.HostConfig["PortBindings"]

        down = Task()
        down.CopyFrom(t)
        down.desired_state = TaskState.SHUTDOWN
        runner.update(down)
        await eventually(lambda: reports.states[-1] == TaskState.SHUTDOWN, 30)
        assert not engine.containers.get(c.Id).running  # stopped, kept (like Docker)
        down.desired_state = TaskState.REMOVE
        runner.update(down)
        await asyncio.wait_for(runner.removed.wait(), 30)
        assert engine.containers.list(all=True) == []
    finally:
        await runner.stop()


async def test_exit_codes_and_missing_images(host: EngineHost) -> None:
    engine = host.engine
    assert engine is not None
    ex = EngineExecutor(engine)
    failing = busybox_task("sh", "-c", "exit 1", slot=1)
    finishing = busybox_task("true", slot=2)
    missing = busybox_task("true", slot=3)
    missing.spec.container.image = "nosuch:1"
    reports = {t.id: Reports() for t in (failing, finishing, missing)}
    runners = [TaskRunner(t, ex.controller(t), reports[t.id])
               for t in (failing, finishing, missing)]
    for r in runners:
        r.start()
    try:
        await eventually(lambda: all(r.status.state >= TaskState.COMPLETE for r in runners), 30)
        assert runners[0].status.state == TaskState.FAILED
        assert "non-zero exit (1)" in runners[0].status.err
        assert runners[0].status.container_status.exit_code == 1
        assert runners[1].status.state == TaskState.COMPLETE
        assert runners[2].status.state == TaskState.REJECTED
        assert "No such image: nosuch:1" in runners[2].status.err
    finally:
        for r in runners:
            await r.stop()


async def test_agent_restart_readopts_the_container(
    host: EngineHost, store: Store, tmp_path: Path
) -> None:
    manager = await serve(store)
    state = tmp_path / "agent"

    def make_agent() -> Agent:
        assert host.engine is not None
        cfg = AgentConfig(node_id="node-a", state_dir=state, report_interval=0.01)
        return Agent(cfg, EngineExecutor(host.engine), None, [manager.addr])

    agent = make_agent()
    await agent.start()
    try:
        t = busybox_task("sleep", "1000")
        await store.wait_for((await store.batch([Create(t)])).revision)
        await eventually(
            lambda: store.get(Task, t.id).status.state == TaskState.RUNNING, 30)
        pid = store.get(Task, t.id).status.container_status.pid
        started = host.engine.containers.get(f"web.1.{t.id}").State.StartedAt
        # shoald restarts: agent and engine go away, the container's shim stays
        await agent.stop()
        await host.close()
        await host.open()
        agent = make_agent()
        await agent.start()
        await asyncio.wait_for(agent.connected.wait(), 10)
        await asyncio.sleep(0.5)
        c = host.engine.containers.get(f"web.1.{t.id}")
        assert c.running and c.State.Pid == pid and c.State.StartedAt == started
        assert store.get(Task, t.id).status.state == TaskState.RUNNING
        # the adopted container is still under control: shut it down
        down = store.get(Task, t.id)
        down.desired_state = TaskState.SHUTDOWN
        await store.batch([Update(down)])
        await eventually(
            lambda: store.get(Task, t.id).status.state == TaskState.SHUTDOWN, 30)
        assert not host.engine.containers.get(c.Id).running
    finally:
        await agent.stop()
        await manager.stop()
