"""/networks on a manager, a worker and outside a cluster, over the real Control API."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer

from shoal.agent.exec.containerspec import LABEL_NETWORK_ID
from shoal.engine.api.app import make_app
from shoal.engine.api.routes_swarm import CLUSTER_KEY
from shoal.engine.network.errors import NetworkNotFound
from shoal.manager.dockerapi.networks import matches
from shoal.manager.store import Store
from shoal.proto.shoal.v1 import control_pb2_grpc
from tests.manager.dockerapi.fakes import FakeCluster

controlapi = pytest.importorskip("shoal.manager.controlapi")
ca = pytest.importorskip("shoal.manager.ca")


class FakeNetworks:
    """The NetworkService calls the routes make, on records in a dict."""

    def __init__(self) -> None:
        self.nets: dict[str, dict[str, Any]] = {}

    def add(self, name: str, labels: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
        n = {"Name": name, "Id": secrets.token_hex(32), "Scope": "local", "Driver": "bridge",
             "IPAM": {"Driver": "default", "Options": None, "Config": []},
             "Containers": {}, "Options": {}, "Labels": dict(labels or {}), **kw}
        self.nets[n["Id"]] = n
        return n

    def list(self, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        local = {k: v for k, v in (filters or {}).items() if k != "scope"}
        return [n for n in self.nets.values() if matches(n, local)]

    def inspect(self, ref: str) -> dict[str, Any]:
        for n in self.nets.values():
            if ref in (n["Id"], n["Name"]):
                return n
        found = [n for n in self.nets.values() if n["Id"].startswith(ref)]
        if len(found) == 1:
            return found[0]
        raise NetworkNotFound(f"network {ref} not found")

    def create(self, name: str, *args: Any) -> Any:
        return SimpleNamespace(id=self.add(name)["Id"])

    def remove(self, ref: str) -> None:
        del self.nets[self.inspect(ref)["Id"]]


@pytest.fixture
async def setup(store: Store, sockdir: str) -> AsyncIterator[tuple[TestClient, FakeCluster,
                                                                   FakeNetworks]]:
    cluster = await ca.ensure_cluster(store)
    server = grpc.aio.server()
    control_pb2_grpc.add_ControlServicer_to_server(
        controlapi.ControlServicer(store, cluster.id), server)
    server.add_insecure_port(f"unix:{sockdir}/control.sock")
    await server.start()
    channel = grpc.aio.insecure_channel(f"unix:{sockdir}/control.sock")
    nets = FakeNetworks()
    nets.add("bridge")
    backend = FakeCluster(control_pb2_grpc.ControlStub(channel))
    app = make_app(SimpleNamespace(networks=nets))
    app[CLUSTER_KEY] = backend
    try:
        async with TestClient(TestServer(app)) as client:
            yield client, backend, nets
    finally:
        await channel.close()
        await server.stop(None)


async def test_cluster_networks_on_a_manager(setup) -> None:
    api, _backend, nets = setup
    body = {"Name": "demo_default", "Driver": "overlay", "Scope": "swarm", "Attachable": True,
            "Labels": {"com.docker.stack.namespace": "demo"}}
    r = await api.post("/v1.44/networks/create", json=body)
    assert r.status == 201, await r.text()
    created = await r.json()
    assert set(created) == {"Id", "Warning"}
    net_id = created["Id"]
    r = await api.post("/v1.44/networks/create", json=body)
    assert r.status == 409 and "already exists" in (await r.json())["message"]
    r = await api.post("/networks/create", json={"Name": "demo_default"})  # a local bridge
    assert r.status == 409

    # the agent's backing network is shown as the cluster network, with its containers
    nets.add("demo_default", {LABEL_NETWORK_ID: net_id},
             Containers={"c1": {"Name": "demo_web.1.x", "IPv4Address": "10.0.1.2/24"}})
    listed = await (await api.get("/networks")).json()
    assert sorted(n["Name"] for n in listed) == ["bridge", "demo_default"]
    swarm = next(n for n in listed if n["Name"] == "demo_default")
    assert (swarm["Id"], swarm["Scope"], swarm["Driver"]) == (net_id, "swarm", "overlay")
    assert swarm["Containers"]["c1"]["Name"] == "demo_web.1.x"
    assert swarm["IPAM"]["Config"][0]["Subnet"].startswith("10.")
    stack = '{"label":{"com.docker.stack.namespace=demo":true}}'
    assert [n["Id"] for n in await (await api.get("/networks", params={"filters": stack})).json()
            ] == [net_id]
    scoped = await (await api.get("/networks", params={"filters": '{"scope":["local"]}'})).json()
    assert [n["Name"] for n in scoped] == ["bridge"]
    for ref in ("demo_default", net_id, net_id[:6]):
        got = await (await api.get(f"/networks/{ref}")).json()
        assert got["Id"] == net_id and got["Scope"] == "swarm"

    # removal is refused while a service uses the network, naming it
    spec = {"Name": "demo_web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"},
                                                 "Networks": [{"Target": "demo_default"}]}}
    assert (await api.post("/services/create", json=spec)).status == 201
    r = await api.delete(f"/networks/{net_id[:8]}")
    assert r.status == 409
    assert (await r.json())["message"] == "network demo_default is in use by service demo_web"
    assert (await api.delete("/services/demo_web")).status == 200
    assert (await api.delete("/networks/demo_default")).status == 204
    assert (await api.get(f"/networks/{net_id}")).status == 404


async def test_overlay_on_a_worker_and_outside_a_cluster(setup) -> None:
    api, backend, nets = setup
    backend.state = "worker"
    r = await api.post("/networks/create", json={"Name": "o", "Driver": "overlay"})
    assert r.status == 503 and "not a swarm manager" in (await r.json())["message"]
    nets.add("o", {LABEL_NETWORK_ID: "c" * 25})
    listed = await (await api.get("/networks")).json()
    assert {(n["Name"], n["Id"], n["Scope"]) for n in listed} == {
        ("bridge", nets.inspect("bridge")["Id"], "local"), ("o", "c" * 25, "swarm")}
    assert (await api.delete("/networks/o")).status == 503
    backend.state = "none"
    r = await api.post("/networks/create", json={"Name": "o2", "Driver": "overlay"})
    assert r.status == 400 and "vxlanid_list" in (await r.json())["message"]
    assert (await api.post("/networks/create", json={"Name": "b"})).status == 201
