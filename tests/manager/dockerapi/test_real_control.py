"""The swarm routes over the real ControlServicer and an etcd store: the contract end to end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer

from shoal.engine.api.app import make_app
from shoal.engine.api.routes_swarm import CLUSTER_KEY
from shoal.manager.store import Store
from shoal.proto.shoal.v1 import control_pb2_grpc, objects_pb2, types_pb2
from tests.manager.dockerapi.fakes import FakeCluster

controlapi = pytest.importorskip("shoal.manager.controlapi")
ca = pytest.importorskip("shoal.manager.ca")

SPEC = {"Name": "web", "Labels": {"app": "demo"},
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["sleep", "100"]},
                         "RestartPolicy": {"Condition": "on-failure", "MaxAttempts": 2}},
        "Mode": {"replicated": {"Replicas": 2}},
        "EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 8080}]}}


async def _node(store: Store, hostname: str, role: int) -> objects_pb2.Node:
    node = objects_pb2.Node(role=role)
    node.spec.desired_role = role
    node.description.hostname = hostname
    node.status.state = objects_pb2.NodeStatus.READY
    created = await store.create(node)
    await store.wait_for(created.meta.version.index)
    return created


@pytest.fixture
async def real_api(store: Store, sockdir: str) -> AsyncIterator[TestClient]:
    cluster = await ca.ensure_cluster(store)
    await _node(store, "host-a", types_pb2.MANAGER)
    await _node(store, "host-b", types_pb2.WORKER)
    server = grpc.aio.server()
    control_pb2_grpc.add_ControlServicer_to_server(
        controlapi.ControlServicer(store, cluster.id), server)
    server.add_insecure_port(f"unix:{sockdir}/control.sock")
    await server.start()
    channel = grpc.aio.insecure_channel(f"unix:{sockdir}/control.sock")
    app = make_app(None)
    app[CLUSTER_KEY] = FakeCluster(control_pb2_grpc.ControlStub(channel))
    try:
        async with TestClient(TestServer(app)) as client:
            yield client
    finally:
        await channel.close()
        await server.stop(None)


async def test_services_nodes_swarm_over_the_real_control_api(real_api):
    api = real_api
    swarm = await (await api.get("/swarm")).json()
    assert swarm["JoinTokens"]["Worker"].startswith("SWMTKN-1-")
    assert swarm["TLSInfo"]["TrustRoot"].startswith("-----BEGIN CERTIFICATE-----")

    r = await api.post("/services/create", json=SPEC)
    assert r.status == 201, await r.text()
    sid = (await r.json())["ID"]
    doc = await (await api.get("/services/web")).json()
    assert doc["ID"] == sid and doc["Spec"]["Mode"] == {"Replicated": {"Replicas": 2}}
    assert doc["Spec"]["TaskTemplate"]["RestartPolicy"]["MaxAttempts"] == 2
    spec = doc["Spec"]
    spec["Mode"]["Replicated"]["Replicas"] = 3
    version = doc["Version"]["Index"]
    r = await api.post(f"/services/{sid}/update", params={"version": version}, json=spec)
    assert r.status == 200, await r.text()
    r = await api.post(f"/services/{sid}/update", params={"version": version}, json=spec)
    assert r.status == 409
    [listed] = await (await api.get("/services", params={
        "status": "1", "filters": json.dumps({"name": ["we"]})})).json()
    assert listed["ServiceStatus"]["DesiredTasks"] == 3

    nodes = await (await api.get("/nodes")).json()
    assert sorted(n["Description"]["Hostname"] for n in nodes) == ["host-a", "host-b"]
    worker = await (await api.get("/nodes/host-b")).json()
    r = await api.post(f"/nodes/{worker['ID']}/update",
                       params={"version": worker["Version"]["Index"]},
                       json=dict(worker["Spec"], Availability="drain"))
    assert r.status == 200, await r.text()
    assert (await (await api.get("/nodes/host-b")).json())["Spec"]["Availability"] == "drain"
    assert (await api.delete(f"/nodes/{worker['ID']}")).status == 409

    r = await api.post("/swarm/update", params={"version": swarm["Version"]["Index"],
                                                "rotateWorkerToken": "true"},
                       json=swarm["Spec"])
    assert r.status == 200, await r.text()
    again = await (await api.get("/swarm")).json()
    assert again["JoinTokens"]["Worker"] != swarm["JoinTokens"]["Worker"]

    assert (await api.delete(f"/services/{sid}")).status == 200
    r = await api.get(f"/services/{sid}")
    assert r.status == 404
