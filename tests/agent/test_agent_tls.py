"""The agent and the dispatcher over mutual TLS: the node id comes from the certificate."""

from __future__ import annotations

import asyncio

import grpc

from shoal.agent import Agent, AgentConfig
from shoal.agent.exec.fake import FakeExecutor
from shoal.manager.ca import AuthInterceptor, NodeCredentials, RootCA, add_ports, ensure_cluster
from shoal.manager.ca.certs import generate_key, make_csr
from shoal.manager.ca.tls import channel_credentials
from shoal.manager.dispatcher import SERVER_OPTIONS, Dispatcher, add_to_server, tls_identity
from shoal.manager.store import Create, Store
from shoal.proto.shoal.v1.objects_pb2 import Node, Task
from shoal.proto.shoal.v1.types_pb2 import MANAGER, WORKER, TaskState
from tests.manager.conftest import eventually
from tests.manager.dispatcher.helpers import task


def credentials(root: RootCA, cluster_id: str, node_id: str, role: int) -> NodeCredentials:
    key = generate_key()
    cert = root.issue(make_csr(key, node_id), node_id=node_id, role=role,  # type: ignore[arg-type]
                      cluster_id=cluster_id, addresses=["127.0.0.1"])
    return NodeCredentials(node_id, role, key, cert, root.cert_pem)  # type: ignore[arg-type]


async def test_agent_over_mtls_acts_as_its_certificate_says(store: Store) -> None:
    cluster = await ensure_cluster(store)
    root = RootCA.from_proto(cluster.root_ca)
    mgr = credentials(root, cluster.id, "manager-1", MANAGER)
    dispatcher = Dispatcher(store)
    await dispatcher.start()
    server = grpc.aio.server(interceptors=[AuthInterceptor(cluster.id)], options=SERVER_OPTIONS)
    add_to_server(server, dispatcher, tls_identity)
    port, _ = add_ports(server, "127.0.0.1:0", mgr, "127.0.0.1:0")
    await server.start()
    worker = credentials(root, cluster.id, "node-a", WORKER)
    # the agent claims to be node-b in its config: the certificate wins
    cfg = AgentConfig(node_id="node-b", report_interval=0.01)
    agent = Agent(cfg, FakeExecutor(), channel_credentials(worker), [f"127.0.0.1:{port}"])
    await agent.start()
    try:
        await asyncio.wait_for(agent.connected.wait(), 10)
        assert store.get(Node, "node-a") is not None
        assert store.get(Node, "node-b") is None
        assert agent.node is not None and agent.node.id == "node-a"
        mine, theirs = task("node-a", slot=1), task("node-b", slot=2)
        await store.batch([Create(mine), Create(theirs)])
        await eventually(lambda: store.get(Task, mine.id).status.state == TaskState.RUNNING)
        await asyncio.sleep(0.2)
        assert store.get(Task, theirs.id).status.state == TaskState.ASSIGNED
    finally:
        await agent.stop()
        await dispatcher.stop()
        await server.stop(None)
