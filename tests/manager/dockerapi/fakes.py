"""Fakes for the Docker API routes: an in-memory Control servicer and a ClusterBackend.

FakeControl serves shoal.v1.Control over a real grpc.aio server (so requests
and answers cross the wire as they will in shoald). It keeps objects in
dicts, checks versions like the store (ABORTED when stale), names unique
(ALREADY_EXISTS), and plays a tiny orchestrator: each replica slot gets a
RUNNING task on a node; scaling down sets desired SHUTDOWN. It ignores list
filters on purpose: the routes must filter the answers themselves.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from shoal.manager.dockerapi.backend import ControlAPI, ServiceLogOptions
from shoal.manager.dockerapi.errors import NOT_PART_OF_SWARM, NotInSwarm, NotManager
from shoal.proto.shoal.v1 import control_pb2 as c
from shoal.proto.shoal.v1 import control_pb2_grpc, objects_pb2, specs_pb2, types_pb2

CA_PEM = b""  # set by tests that want TLSInfo


def new_id() -> str:
    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(25))


class FakeControl(control_pb2_grpc.ControlServicer):
    """An in-memory Control API."""

    def __init__(self) -> None:
        self.revision = itertools.count(10)
        self.services: dict[str, objects_pb2.Service] = {}
        self.tasks: dict[str, objects_pb2.Task] = {}
        self.nodes: dict[str, objects_pb2.Node] = {}
        self.cluster = objects_pb2.Cluster(id=new_id(), spec=specs_pb2.ClusterSpec(
            annotations=types_pb2.Annotations(name="default"),
            orchestration=specs_pb2.OrchestrationConfig(task_history_retention_limit=5)))
        self.cluster.root_ca.join_tokens.worker = "SWMTKN-1-fake-worker"
        self.cluster.root_ca.join_tokens.manager = "SWMTKN-1-fake-manager"
        self.cluster.root_ca.ca_cert = CA_PEM
        self._touch(self.cluster.meta, created=True)
        self.requests: list[Any] = []
        # failures: method name -> (code, message) that method answers instead
        self.failures: dict[str, tuple[grpc.StatusCode, str]] = {}
        self.add_node("manager-1", types_pb2.MANAGER, leader=True)
        self.add_node("worker-1", types_pb2.WORKER)

    def _touch(self, meta: types_pb2.Meta, created: bool = False) -> None:
        meta.version.index = next(self.revision)
        if created:
            meta.created_at.GetCurrentTime()
        meta.updated_at.GetCurrentTime()

    def add_node(self, hostname: str, role: int, leader: bool = False,
                 state: int = objects_pb2.NodeStatus.READY) -> objects_pb2.Node:
        n = objects_pb2.Node(id=new_id(), role=role)
        n.spec.desired_role = role
        n.description.hostname = hostname
        n.description.platform.architecture = "x86_64"
        n.description.platform.os = "linux"
        n.description.resources.nano_cpus = 4_000_000_000
        n.description.resources.memory_bytes = 8 << 30
        n.description.engine.engine_version = "0.1.0"
        n.status.state = state
        n.status.addr = f"10.0.0.{len(self.nodes) + 1}"
        if role == types_pb2.MANAGER:
            n.manager_status.addr = n.status.addr + ":4242"
            n.manager_status.leader = leader
            n.manager_status.reachability = objects_pb2.ManagerStatus.REACHABLE
        self._touch(n.meta, created=True)
        self.nodes[n.id] = n
        return n

    # the tiny orchestrator

    def _reconcile(self, svc: objects_pb2.Service) -> None:
        mine = [t for t in self.tasks.values()
                if t.service_id == svc.id and t.desired_state == types_pb2.RUNNING]
        want = svc.spec.replicated.replicas if svc.spec.HasField("replicated") else len(self.nodes)
        nodes = sorted(self.nodes)
        for slot in range(len(mine) + 1, want + 1):
            t = objects_pb2.Task(id=new_id(), service_id=svc.id, slot=slot,
                                 node_id=nodes[slot % len(nodes)],
                                 desired_state=types_pb2.RUNNING, spec=svc.spec.task)
            t.service_annotations.CopyFrom(svc.spec.annotations)
            t.status.state = types_pb2.RUNNING
            t.status.message = "started"
            t.status.timestamp.GetCurrentTime()
            t.status.container_status.container_id = secrets.token_hex(32)
            t.status.container_status.pid = 1000 + slot
            self._touch(t.meta, created=True)
            self.tasks[t.id] = t
        for t in sorted(mine, key=lambda t: t.slot)[want:]:
            t.desired_state = types_pb2.SHUTDOWN

    async def _abort(self, context: grpc.aio.ServicerContext, code: grpc.StatusCode,
                     msg: str) -> None:
        await context.abort(code, msg)

    async def _maybe_fail(self, method: str, context: grpc.aio.ServicerContext) -> None:
        if method in self.failures:
            await context.abort(*self.failures[method])

    # services

    async def CreateService(self, request, context):
        self.requests.append(request)
        name = request.spec.annotations.name or f"svc-{len(self.services)}"
        if any(s.spec.annotations.name == name for s in self.services.values()):
            await self._abort(context, grpc.StatusCode.ALREADY_EXISTS,
                              f"service {name} already exists")
        svc = objects_pb2.Service(id=new_id(), spec=request.spec)
        svc.spec.annotations.name = name
        svc.endpoint.spec.CopyFrom(request.spec.endpoint)
        self._touch(svc.meta, created=True)
        self.services[svc.id] = svc
        self._reconcile(svc)
        return c.CreateServiceResponse(service=svc)

    async def GetService(self, request, context):
        svc = self.services.get(request.service_id)
        if svc is None:
            await self._abort(context, grpc.StatusCode.NOT_FOUND,
                              f"service {request.service_id} not found")
        return c.GetServiceResponse(service=svc)

    async def ListServices(self, request, context):
        await self._maybe_fail("ListServices", context)
        self.requests.append(request)
        return c.ListServicesResponse(services=list(self.services.values()))

    async def UpdateService(self, request, context):
        self.requests.append(request)
        svc = self.services.get(request.service_id)
        if svc is None:
            await self._abort(context, grpc.StatusCode.NOT_FOUND, "service not found")
        if request.service_version.index != svc.meta.version.index:
            await self._abort(context, grpc.StatusCode.ABORTED,
                              "update out of sequence: the service changed since it was read")
        if request.rollback and not svc.HasField("previous_spec"):
            await self._abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                              "service does not have a previous spec")
        new_spec = specs_pb2.ServiceSpec()
        new_spec.CopyFrom(svc.previous_spec if request.rollback else request.spec)
        prev = specs_pb2.ServiceSpec()
        prev.CopyFrom(svc.spec)
        svc.previous_spec.CopyFrom(prev)
        svc.spec.CopyFrom(new_spec)
        self._touch(svc.meta)
        self._reconcile(svc)
        return c.UpdateServiceResponse(service=svc)

    async def RemoveService(self, request, context):
        if self.services.pop(request.service_id, None) is None:
            await self._abort(context, grpc.StatusCode.NOT_FOUND, "service not found")
        for t in self.tasks.values():
            if t.service_id == request.service_id:
                t.desired_state = types_pb2.REMOVE
        return c.RemoveServiceResponse()

    # tasks

    async def GetTask(self, request, context):
        t = self.tasks.get(request.task_id)
        if t is None:
            await self._abort(context, grpc.StatusCode.NOT_FOUND,
                              f"task {request.task_id} not found")
        return c.GetTaskResponse(task=t)

    async def ListTasks(self, request, context):
        self.requests.append(request)
        return c.ListTasksResponse(tasks=list(self.tasks.values()))

    # nodes

    async def GetNode(self, request, context):
        n = self.nodes.get(request.node_id)
        if n is None:
            await self._abort(context, grpc.StatusCode.NOT_FOUND,
                              f"node {request.node_id} not found")
        return c.GetNodeResponse(node=n)

    async def ListNodes(self, request, context):
        await self._maybe_fail("ListNodes", context)
        self.requests.append(request)
        return c.ListNodesResponse(nodes=list(self.nodes.values()))

    async def UpdateNode(self, request, context):
        n = self.nodes.get(request.node_id)
        if n is None:
            await self._abort(context, grpc.StatusCode.NOT_FOUND, "node not found")
        if request.node_version.index != n.meta.version.index:
            await self._abort(context, grpc.StatusCode.ABORTED, "update out of sequence")
        n.spec.CopyFrom(request.spec)
        self._touch(n.meta)
        return c.UpdateNodeResponse(node=n)

    async def RemoveNode(self, request, context):
        n = self.nodes.get(request.node_id)
        if n is None:
            await self._abort(context, grpc.StatusCode.NOT_FOUND, "node not found")
        if n.status.state != objects_pb2.NodeStatus.DOWN and not request.force:
            await self._abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                              f"node {n.id} is not down and can't be removed")
        del self.nodes[n.id]
        return c.RemoveNodeResponse()

    # cluster

    async def ListClusters(self, request, context):
        return c.ListClustersResponse(clusters=[self.cluster])

    async def UpdateCluster(self, request, context):
        self.requests.append(request)
        if request.cluster_version.index != self.cluster.meta.version.index:
            await self._abort(context, grpc.StatusCode.ABORTED, "update out of sequence")
        self.cluster.spec.CopyFrom(request.spec)
        tokens = self.cluster.root_ca.join_tokens
        if request.rotation.worker_join_token:
            tokens.worker = f"SWMTKN-1-rotated-{time.monotonic_ns()}"
        if request.rotation.manager_join_token:
            tokens.manager = f"SWMTKN-1-rotated-m-{time.monotonic_ns()}"
        self._touch(self.cluster.meta)
        return c.UpdateClusterResponse(cluster=self.cluster)

    async def GetJoinTokens(self, request, context):
        return c.GetJoinTokensResponse(join_tokens=self.cluster.root_ca.join_tokens)


class FakeCluster:
    """A ClusterBackend: 'none', 'worker' or 'manager', with a Control stub when a manager."""

    def __init__(self, stub: ControlAPI | None, state: str = "manager") -> None:
        self.stub = stub
        self.state = state
        self.inits: list[dict[str, Any]] = []
        self.joins: list[dict[str, Any]] = []
        self.log_opts: list[ServiceLogOptions] = []
        self.node_id = new_id()

    async def init(self, req: dict[str, Any]) -> str:
        from shoal.manager.dockerapi.errors import AlreadyInSwarm

        if self.state != "none":
            raise AlreadyInSwarm()
        self.inits.append(req)
        self.state = "manager"
        return self.node_id

    async def join(self, req: dict[str, Any]) -> None:
        self.joins.append(req)
        self.state = "worker"

    async def leave(self, force: bool) -> None:
        if self.state == "none":
            raise NotInSwarm(NOT_PART_OF_SWARM)
        self.state = "none"

    def control(self) -> ControlAPI:
        if self.state == "none":
            raise NotInSwarm()
        if self.state == "worker":
            raise NotManager()
        assert self.stub is not None
        return self.stub

    async def service_logs(self, service_id: str,
                           opts: ServiceLogOptions) -> AsyncIterator[tuple[int, bytes]]:
        self.log_opts.append(opts)
        if opts.stdout:
            yield 1, f"{service_id} hello\n".encode()
        if opts.stderr:
            yield 2, b"oops\n"


async def serve_control(servicer: FakeControl, socket_path: str) -> grpc.aio.Server:
    """Start a grpc.aio server for SERVICER on a UNIX socket."""
    server = grpc.aio.server()
    control_pb2_grpc.add_ControlServicer_to_server(servicer, server)
    server.add_insecure_port(f"unix:{socket_path}")
    await server.start()
    return server
