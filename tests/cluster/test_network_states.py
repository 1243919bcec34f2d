"""A real manager sends NetworkStates: the other nodes as peers, the service records.

One shoald is the manager and runs the tasks; the test itself joins the
cluster as a second node (real join token, certificate and mTLS dispatcher
session, as an agent does) and reads its assignment stream. Its own tasks
stay ASSIGNED (nobody runs them), which is enough to take part in a network.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from shoal.manager.ca.node import join
from shoal.manager.ca.tls import secure_channel
from shoal.proto.shoal.v1 import dispatcher_pb2 as pb
from shoal.proto.shoal.v1 import dispatcher_pb2_grpc as pb_grpc
from shoal.proto.shoal.v1.objects_pb2 import NodeDescription
from shoal.proto.shoal.v1.types_pb2 import Platform, Resources

pytestmark = pytest.mark.root

FAKE_ADDR = "127.0.0.9"


class FakeAgent:
    """A node that only listens: session, heartbeats, and the NetworkStates it is sent."""

    def __init__(self, manager: str, token: str) -> None:
        self.manager = manager
        self.token = token
        self.node_id = ""
        self.states: dict[str, pb.NetworkState] = {}
        self._jobs: list[asyncio.Task[Any]] = []
        self._channel: Any = None

    async def start(self) -> None:
        creds = await join(self.manager, self.token, advertise_addr=FAKE_ADDR)
        self.node_id = creds.node_id
        self._channel = secure_channel(self.manager, creds)
        stub = pb_grpc.DispatcherStub(self._channel)
        desc = NodeDescription(hostname="fake-node", addr=FAKE_ADDR,
                               platform=Platform(os="linux", architecture="x86_64"),
                               resources=Resources(nano_cpus=2 * 10**9, memory_bytes=4 << 30))
        session = stub.Session(pb.SessionRequest(description=desc))
        first = await session.read()
        self._jobs = [asyncio.create_task(self._beat(stub, first.session_id)),
                      asyncio.create_task(self._listen(stub, first.session_id)),
                      asyncio.create_task(self._drain(session))]

    async def _drain(self, session: Any) -> None:
        async for _ in session:
            pass

    async def _beat(self, stub: Any, session_id: str) -> None:
        while True:
            resp = await stub.Heartbeat(pb.HeartbeatRequest(session_id=session_id))
            await asyncio.sleep(min(1.0, resp.period.seconds or 1))

    async def _listen(self, stub: Any, session_id: str) -> None:
        async for msg in stub.Assignments(pb.AssignmentsRequest(session_id=session_id)):
            for c in msg.changes:
                if not c.assignment.HasField("network"):
                    continue
                state = c.assignment.network
                if c.action == pb.AssignmentChange.REMOVE:
                    self.states.pop(state.network_id, None)
                else:
                    self.states[state.network_id] = state

    def by_name(self, name: str) -> pb.NetworkState | None:
        return next((s for s in self.states.values()
                     if s.network.spec.annotations.name == name), None)

    async def stop(self) -> None:
        for job in self._jobs:
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        if self._channel is not None:
            await self._channel.close()


async def _until(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def test_an_agent_gets_peers_endpoints_and_service_records(cluster: Any) -> None:
    m = cluster.daemon("m1")

    def cli(*args: str) -> Any:
        return asyncio.to_thread(m.cli, *args, check=True)

    await cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{m.port}")
    token = (await cli("cluster", "join-token", "-q", "worker")).stdout.strip()
    agent = FakeAgent(f"127.0.0.1:{m.port}", token)
    await agent.start()
    try:
        await cli("network", "create", "-d", "overlay", "app")
        await cli("service", "create", "-d", "--name", "web", "--network", "app",
                  "--replicas", "2", "-p", "8080:80", "--constraint", "node.role==manager",
                  "busybox", "sleep", "1000")
        await cli("service", "create", "-d", "--name", "side", "--network", "app",
                  "--constraint", "node.role==worker", "busybox", "sleep", "1000")
        manager_id = (await cli("node", "inspect", "-f", "{{.ID}}", "self")).stdout.strip()

        def app_ready() -> bool:
            app = agent.by_name("app")
            return app is not None and any(
                r.name == "web" and len(r.task_ips) == 2 for r in app.services)

        await _until(app_ready)
        app = agent.by_name("app")
        assert app is not None
        assert [p.node_id for p in app.peers] == [manager_id] and app.peers[0].addr
        web = next(r for r in app.services if r.name == "web")
        side = next(r for r in app.services if r.name == "side")
        assert web.vip and side.vip and web.vip != side.vip
        assert sorted(e.ip for e in app.endpoints) == sorted(web.task_ips)  # not its own
        subnet = app.network.ipam.configs[0].subnet
        prefix = subnet.rsplit(".", 1)[0] + "."
        assert all(ip.startswith(prefix) for ip in [web.vip, *web.task_ips])
        # `service inspect` shows the VIPs the records carry
        (shown,) = json.loads((await cli("service", "inspect", "web")).stdout)
        app_id = app.network_id
        assert [v["Addr"].split("/")[0] for v in shown["Endpoint"]["VirtualIPs"]
                if v["NetworkID"] == app_id] == [web.vip]

        # every ready node is on the ingress network, with its own address there
        await _until(lambda: (s := agent.by_name("ingress")) is not None
                     and bool(s.ingress_ports) and len(s.ingress_ports[0].backends) == 2)
        ingress = agent.by_name("ingress")
        assert ingress is not None and ingress.local_address
        (port,) = ingress.ingress_ports
        assert (port.published_port, port.target_port) == (8080, 80)
        assert [p.node_id for p in ingress.peers] == [manager_id]
        # the manager's own ingress address is one of the remote endpoints
        assert manager_id in {e.task_id for e in ingress.endpoints}

        # scaling down: the record follows at once
        await cli("service", "scale", "-d", "web=1")
        await _until(lambda: (s := agent.by_name("app")) is not None and any(
            r.name == "web" and len(r.task_ips) == 1 for r in s.services))
    finally:
        await agent.stop()
