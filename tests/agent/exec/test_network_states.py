"""The agent's NetworkState handling, against a fake engine network facade (no kernel)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from shoal.agent.exec import mesh, overlays
from shoal.agent.exec.networks import GWBRIDGE, TaskNetworks
from shoal.agent.reporter import StatusReporter
from shoal.agent.storage import TaskStorage
from shoal.agent.worker import Worker
from shoal.engine.errors import NotFound
from shoal.proto.shoal.v1.dispatcher_pb2 import (
    AssignmentChange,
    AssignmentsMessage,
    IngressPort,
    NetworkPeer,
    NetworkState,
    RemoteEndpoint,
    ServiceRecord,
)
from shoal.proto.shoal.v1.objects_pb2 import Network, Task

NET, ING = "n" * 25, "i" * 25
List = list  # FakeNets.list shadows the builtin in annotations


class FakeNets:
    """The part of NetworkService the agent calls, recording every change."""

    def __init__(self) -> None:
        self.nets: dict[str, Any] = {}
        self.ports: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[Any, ...]] = []

    def _add(self, nid: str, name: str, driver: str, labels: dict[str, str]) -> Any:
        n = SimpleNamespace(id=nid, name=name, driver=driver, labels=labels, peers=[],
                            remote={}, services=[], mesh_address="")
        self.nets[nid] = n
        self.calls.append(("create", name, driver))
        return n

    def create_overlay(self, name: str, vni: int, subnet: str, gateway: str | None, *,
                       labels: dict[str, str], options: dict[str, str], network_id: str) -> Any:
        assert vni and subnet
        return self._add(network_id, name, "overlay", labels)

    def create(self, name: str, driver: str, subnet: Any = None, gateway: Any = None,
               internal: bool = False, attachable: bool = False,
               labels: dict[str, str] | None = None, options: Any = None) -> Any:
        return self._add(f"local-{name}", name, driver, dict(labels or {}))

    def get(self, ref: str) -> Any:
        if ref not in self.nets:
            raise NotFound(ref)
        return self.nets[ref]

    def inspect(self, name: str) -> dict[str, Any]:
        raise NotFound(name)

    def list(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        out = []
        for n in self.nets.values():
            k, _, v = filters["label"][0].partition("=")
            if k in n.labels and (not v or n.labels[k] == v):
                out.append({"Name": n.name, "Id": n.id, "Containers": {}})
        return out

    def remove(self, nid: str) -> None:
        self.calls.append(("remove", self.nets.pop(nid).name))

    def add_peer(self, nid: str, vtep: str) -> None:
        self.nets[nid].peers.append(vtep)
        self.calls.append(("add_peer", vtep))

    def remove_peer(self, nid: str, vtep: str) -> None:
        self.nets[nid].peers.remove(vtep)
        self.calls.append(("remove_peer", vtep))

    def add_endpoint(self, nid: str, ip: str, mac: str, vtep: str) -> None:
        self.nets[nid].remote[ip] = {"mac": mac, "vtep": vtep}
        self.calls.append(("add_endpoint", ip, vtep))

    def remove_endpoint(self, nid: str, ip: str) -> None:
        del self.nets[nid].remote[ip]
        self.calls.append(("remove_endpoint", ip))

    def set_service_records(self, nid: str, records: List[dict[str, Any]]) -> None:
        if records != self.nets[nid].services:
            self.nets[nid].services = records
            self.calls.append(("records", nid))

    def set_mesh(self, nid: str, address: str) -> None:
        if self.nets[nid].mesh_address != address:
            self.nets[nid].mesh_address = address
            self.calls.append(("set_mesh", address))

    def remove_mesh(self, nid: str) -> None:
        self.nets[nid].mesh_address = ""
        self.calls.append(("remove_mesh",))

    def service_ports(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.ports.items()}

    def set_service_ports(self, sid: str, ports: List[Any], backends: List[str]) -> None:
        self.ports[sid] = {"Ports": [list(p) for p in ports], "Backends": list(backends)}
        self.calls.append(("set_ports", sid, tuple(backends)))

    def remove_service_ports(self, sid: str) -> None:
        del self.ports[sid]
        self.calls.append(("remove_ports", sid))


def _network(nid: str, name: str, vni: int, ingress: bool = False) -> Network:
    n = Network(id=nid)
    n.spec.annotations.name = name
    n.spec.ingress = ingress
    n.driver_state.name = "overlay"
    n.driver_state.options[overlays.VNI_OPTION] = str(vni)
    cfg = n.ipam.configs.add()
    cfg.subnet, cfg.gateway = f"10.0.{vni % 256}.0/24", f"10.0.{vni % 256}.1"
    return n


def _app_state(peers: list[str], ips: list[str]) -> NetworkState:
    s = NetworkState(network_id=NET, network=_network(NET, "app", 4097))
    s.peers.extend(NetworkPeer(node_id=p, addr=p) for p in peers)
    s.endpoints.extend(RemoteEndpoint(task_id=ip, ip=ip, node_addr="192.0.2.2") for ip in ips)
    s.services.append(ServiceRecord(service_id="s", name="web", vip="10.0.1.2", task_ips=ips))
    return s


def _ingress_state(backends: list[str]) -> NetworkState:
    s = NetworkState(network_id=ING, network=_network(ING, "ingress", 4096, ingress=True),
                     local_address="10.0.0.3/24")
    if backends:
        s.ingress_ports.append(IngressPort(service_id="s", published_port=8080, target_port=80,
                                           backends=backends))
    return s


def test_program_applies_differences_only() -> None:
    nets = FakeNets()
    overlays.create(nets, _network(NET, "app", 4097), "app")
    state = _app_state(["192.0.2.2", "192.0.2.3"], ["10.0.1.5", "10.0.1.6"])
    assert overlays.program(nets, state, leaving={"10.0.1.6"}) == []
    n = nets.nets[NET]
    assert sorted(n.peers) == ["192.0.2.2", "192.0.2.3"] and sorted(n.remote) == [
        "10.0.1.5", "10.0.1.6"]
    assert n.remote["10.0.1.5"]["mac"] == "02:42:0a:00:01:05"
    assert n.services[0]["task_ips"] == ["10.0.1.5"]  # a task stopping here: out at once
    nets.calls.clear()
    overlays.program(nets, state, leaving={"10.0.1.6"})
    assert nets.calls == []  # idempotent
    overlays.program(nets, _app_state(["192.0.2.3"], ["10.0.1.6"]))
    assert ("remove_peer", "192.0.2.2") in nets.calls and ("remove_endpoint", "10.0.1.5") in \
        nets.calls and ("add_peer", "192.0.2.3") not in nets.calls


def test_mesh_publishes_state_ports_and_drops_the_rest() -> None:
    nets = FakeNets()
    overlays.create(nets, _network(ING, "ingress", 4096, ingress=True), "ingress")
    nets.ports["gone"] = {"Ports": [["tcp", 9000, 80]], "Backends": []}
    assert mesh.sync(nets, _ingress_state(["10.0.0.5", "10.0.0.6"]), {"10.0.0.6"}) == []
    assert nets.ports == {"s": {"Ports": [["tcp", 8080, 80]], "Backends": ["10.0.0.5"]}}
    assert nets.nets[ING].mesh_address == "10.0.0.3/24"
    mesh.sync(nets, _ingress_state([]))
    assert nets.ports == {} and nets.nets[ING].mesh_address == ""


def test_task_networks_make_overlays_gateway_and_mesh_then_release() -> None:
    nets = FakeNets()
    made: list[Any] = []

    def containers(all: bool) -> list[Any]:  # the container made, while it is "created"
        return [SimpleNamespace(State=SimpleNamespace(Status="created"),
                                HostConfig={"NetworkMode": atts[0][0]},
                                NetworkingConfig={"EndpointsConfig": {a[0]: {} for a in atts}})
                for atts in made]

    engine = SimpleNamespace(networks=nets, containers=SimpleNamespace(list=containers))
    tn = TaskNetworks(engine)
    task = Task(id="t1")
    task.service_annotations.name = "web"
    for net in (_network(ING, "ingress", 4096, ingress=True), _network(NET, "app", 4097)):
        att = task.networks.add()
        att.network.CopyFrom(net)
        att.addresses.append(f"10.0.{0 if net.spec.ingress else 1}.5/24")

    async def run() -> None:
        tn.network_states({NET: _app_state(["192.0.2.2"], ["10.0.1.6"])})
        await tn.create_container(task, lambda atts: _record(made, atts))
        await tn._job if tn._job else None
        # the app network is programmed before the container is made
        assert nets.nets[NET].peers == ["192.0.2.2"]
        # the mesh: the ingress overlay stays while ports are published, without tasks here
        tn.network_states({NET: _app_state([], []), ING: _ingress_state(["10.0.0.9"])})
        await tn.stop()
        await tn.release()
        assert ING in nets.nets and nets.ports["s"]["Backends"] == ["10.0.0.9"]
        made.clear()  # the container is gone: so are the networks, the mesh and the ports
        tn.network_states({})
        await tn.stop()
        assert nets.nets == {} and nets.ports == {}

    made_before = list(made)
    asyncio.run(run())
    assert made_before == [] and made == []
    assert seen == [[("app", ["web", "tasks.web"], "10.0.1.5"), ("ingress", [], "10.0.0.5"),
                     (GWBRIDGE, [], "")]]


async def _record(made: list[Any], atts: Any) -> None:
    made.append(atts)
    seen.append(list(atts))


seen: list[Any] = []


def test_worker_keeps_persists_and_hands_over_the_latest_states(tmp_path: Path) -> None:
    got: list[dict[str, NetworkState]] = []

    class Sink:
        def network_states(self, states: Any) -> None:
            got.append(dict(states))

        async def stop_networks(self) -> None:
            pass

        async def describe(self) -> Any:
            raise NotImplementedError

        def controller(self, task: Task) -> Any:
            raise NotImplementedError

    def msg(kind: int, *changes: tuple[int, NetworkState]) -> AssignmentsMessage:
        m = AssignmentsMessage(type=kind)
        for action, state in changes:
            c = m.changes.add(action=action)
            c.assignment.network.CopyFrom(state)
        return m

    storage = TaskStorage(tmp_path)
    w = Worker(Sink(), storage, StatusReporter(1.0, 100))
    app, ing = _app_state(["a"], []), _ingress_state([])
    w.apply(msg(AssignmentsMessage.COMPLETE, (AssignmentChange.UPDATE, app),
                (AssignmentChange.UPDATE, ing)))
    assert set(got[-1]) == {NET, ING}
    w.apply(msg(AssignmentsMessage.INCREMENTAL, (AssignmentChange.UPDATE, app)))
    assert len(got) == 1  # nothing changed: nothing handed over
    w.apply(msg(AssignmentsMessage.INCREMENTAL,
                (AssignmentChange.REMOVE, NetworkState(network_id=ING))))
    assert set(got[-1]) == {NET} and set(storage.load_networks()) == {NET}
    # a restart hands the persisted states over before any manager answers
    w2 = Worker(Sink(), TaskStorage(tmp_path), StatusReporter(1.0, 100))
    asyncio.run(w2.start())
    assert got[-1] == {NET: app}
    w2.apply(msg(AssignmentsMessage.COMPLETE))  # the full set lacks it: removed
    assert got[-1] == {} and storage.load_networks() == {}
