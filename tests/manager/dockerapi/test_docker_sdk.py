"""The Docker SDK for Python drives the swarm routes as it drives dockerd.

shoald's aiohttp app (make_app, with a FakeCluster over a FakeControl on
grpc.aio) serves a UNIX socket from a background event loop; the SDK talks to
it synchronously. The checks look at what the SDK sent (the Control requests
the fake received) and at what it reads back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from aiohttp import web

from shoal.engine.api.app import make_app
from shoal.engine.api.routes_swarm import CLUSTER_KEY
from shoal.proto.shoal.v1 import control_pb2 as c
from shoal.proto.shoal.v1 import control_pb2_grpc, specs_pb2, types_pb2
from tests.manager.dockerapi.fakes import FakeCluster, FakeControl, serve_control

docker = pytest.importorskip("docker")

SEC = 1_000_000_000


class Server:
    """shoald's REST app and a FakeControl, on a loop of their own in a thread."""

    def __init__(self, sockdir: str, state: str = "manager") -> None:
        self.sockdir = sockdir
        self.servicer = FakeControl()
        self.state = state
        self.cluster: FakeCluster | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._stack: list[Any] = []

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self) -> None:
        server = await serve_control(self.servicer, f"{self.sockdir}/control.sock")
        channel = grpc.aio.insecure_channel(f"unix:{self.sockdir}/control.sock")
        self.cluster = FakeCluster(control_pb2_grpc.ControlStub(channel), self.state)
        app = make_app(None)
        app[CLUSTER_KEY] = self.cluster
        runner = web.AppRunner(app)
        await runner.setup()
        await web.UnixSite(runner, f"{self.sockdir}/shoald.sock").start()
        self._stack = [runner, channel, server]

    async def _stop(self) -> None:
        runner, channel, server = self._stack
        await runner.cleanup()
        await channel.close()
        await server.stop(None)

    def __enter__(self) -> Server:
        self.thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def server(sockdir: str) -> Iterator[Server]:
    with Server(sockdir) as s:
        yield s


@pytest.fixture
def sdk(server: Server) -> Iterator[Any]:
    cl = docker.DockerClient(base_url=f"unix://{server.sockdir}/shoald.sock", version="1.44",
                             timeout=30)
    yield cl
    cl.close()


def _created(server: Server) -> c.CreateServiceRequest:
    return next(r for r in server.servicer.requests if isinstance(r, c.CreateServiceRequest))


def test_services_create_list_scale_remove(sdk, server):
    t = docker.types
    svc = sdk.services.create(
        "busybox:latest", ["sleep", "100"], name="web", env=["A=1"], labels={"app": "demo"},
        container_labels={"c": "1"}, mode=t.ServiceMode("replicated", 2), workdir="/srv",
        constraints=["node.role==worker"], hostname="web-host", user="nobody",
        stop_grace_period=3 * SEC, mounts=["/data:/data:ro"], hosts={"db": "10.0.0.9"},
        endpoint_spec=t.EndpointSpec(ports={8080: 80}),
        resources=t.Resources(mem_limit=64 << 20, cpu_reservation=SEC // 2),
        restart_policy=t.RestartPolicy(condition="on-failure", max_attempts=3),
        update_config=t.UpdateConfig(parallelism=1, order="start-first"),
        healthcheck=t.Healthcheck(test=["CMD", "true"], interval=2 * SEC),
    )
    spec = _created(server).spec
    cs = spec.task.container
    assert spec.annotations.name == "web" and spec.annotations.labels["app"] == "demo"
    assert (cs.image, list(cs.command), list(cs.env)) == ("busybox:latest", ["sleep", "100"],
                                                           ["A=1"])
    assert (cs.dir, cs.hostname, cs.user, dict(cs.labels)) == ("/srv", "web-host", "nobody",
                                                              {"c": "1"})
    assert cs.stop_grace_period.seconds == 3 and list(cs.hosts) == ["10.0.0.9 db"]
    assert cs.mounts[0].type == types_pb2.Mount.BIND and cs.mounts[0].read_only
    assert cs.healthcheck.interval.seconds == 2
    assert spec.replicated.replicas == 2
    assert list(spec.task.placement.constraints) == ["node.role==worker"]
    assert spec.task.resources.limits.memory_bytes == 64 << 20
    assert spec.task.resources.reservations.nano_cpus == SEC // 2
    assert spec.task.restart.condition == types_pb2.RestartPolicy.ON_FAILURE
    assert spec.task.restart.max_attempts == 3
    assert spec.update.order == types_pb2.UpdateConfig.START_FIRST
    assert (spec.endpoint.ports[0].published_port, spec.endpoint.ports[0].target_port) == (
        8080, 80)

    assert svc.name == "web" and svc.id in server.servicer.services
    assert [s.id for s in sdk.services.list()] == [svc.id]
    assert sdk.services.list(filters={"name": "nope"}) == []
    [listed] = sdk.services.list(status=True)
    assert listed.attrs["ServiceStatus"]["RunningTasks"] == 2
    assert len(svc.tasks(filters={"desired-state": "running"})) == 2

    assert svc.scale(3) is not None
    svc.reload()
    assert svc.attrs["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
    # scale re-sent the whole spec it read with insertDefaults: nothing was lost
    stored = server.servicer.services[svc.id].spec
    assert stored.task.container.healthcheck.interval.seconds == 2
    assert stored.task.restart.max_attempts == 3
    assert stored.update.order == types_pb2.UpdateConfig.START_FIRST
    assert len(svc.tasks(filters={"desired-state": "running"})) == 3

    svc.update(image="busybox:1.36", force_update=True)
    stored = server.servicer.services[svc.id].spec
    assert stored.task.container.image == "busybox:1.36" and stored.task.force_update == 1

    svc.remove()
    assert sdk.services.list() == []
    with pytest.raises(docker.errors.NotFound):
        sdk.services.get(svc.id)


def test_service_logs(sdk, server):
    svc = sdk.services.create("busybox", ["echo", "hi"], name="logger")
    out = b"".join(svc.logs(stdout=True, stderr=True, timestamps=True, tail=10))
    assert out == f"{svc.id} hello\n".encode() + b"oops\n"
    opts = server.cluster.log_opts[-1]
    assert opts.timestamps and opts.tail == 10


def test_nodes(sdk, server):
    nodes = sdk.nodes.list()
    assert sorted(n.attrs["Description"]["Hostname"] for n in nodes) == ["manager-1", "worker-1"]
    [mgr] = sdk.nodes.list(filters={"role": "manager"})
    assert mgr.attrs["ManagerStatus"]["Leader"] is True
    worker = sdk.nodes.get("worker-1")
    assert worker.update({"Availability": "drain", "Role": "worker", "Labels": {"z": "a"}})
    stored = server.servicer.nodes[worker.id]
    assert stored.spec.availability == specs_pb2.NodeSpec.DRAIN
    assert dict(stored.spec.annotations.labels) == {"z": "a"}
    with pytest.raises(docker.errors.APIError) as err:
        worker.remove()
    assert err.value.status_code == 409
    assert worker.remove(force=True)
    assert [n.id for n in sdk.nodes.list()] == [mgr.id]


def test_swarm_attrs_update_and_membership(sdk, server):
    attrs = sdk.swarm.attrs
    assert attrs["ID"] == server.servicer.cluster.id
    assert attrs["JoinTokens"]["Worker"] == "SWMTKN-1-fake-worker"
    sw = sdk.swarm
    sw.update(rotate_worker_token=True, task_history_retention_limit=7)
    sw.reload()
    assert sw.attrs["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 7
    assert sw.attrs["JoinTokens"]["Worker"] != "SWMTKN-1-fake-worker"

    assert sdk.swarm.leave(force=True)
    assert server.cluster.state == "none"
    with pytest.raises(docker.errors.APIError) as err:
        sdk.services.list()
    assert err.value.status_code == 503
    assert sdk.swarm.attrs == {}  # the SDK treats 503 as "not in a swarm"
    node_id = sdk.swarm.init(advertise_addr="10.0.0.1", listen_addr="0.0.0.0:4242")
    assert node_id == server.cluster.node_id
    assert server.cluster.inits[-1]["ListenAddr"] == "0.0.0.0:4242"
    assert sdk.swarm.leave(force=True)
    assert sdk.swarm.join(["10.0.0.1:4242"], "SWMTKN-1-x")
    assert server.cluster.joins[-1]["RemoteAddrs"] == ["10.0.0.1:4242"]
    with pytest.raises(docker.errors.APIError, match="Worker nodes can't be used"):
        sdk.nodes.list()
