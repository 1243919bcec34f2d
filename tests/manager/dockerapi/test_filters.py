"""Docker's filters → Control requests and matches; lookups by ID, name, prefix; service status."""

from __future__ import annotations

import json

import pytest

from shoal.engine.errors import InvalidArgument, NotFound
from shoal.manager.dockerapi import filters, lookup
from shoal.manager.dockerapi.status import service_statuses
from shoal.proto.shoal.v1 import control_pb2 as c
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2, types_pb2


def _svc(sid: str, name: str, labels=None, global_=False, replicas=1) -> objects_pb2.Service:
    s = objects_pb2.Service(id=sid)
    s.spec.annotations.name = name
    s.spec.annotations.labels.update(labels or {})
    if global_:
        getattr(s.spec, "global").SetInParent()
    else:
        s.spec.replicated.replicas = replicas
    return s


def test_parse_accepts_both_docker_forms():
    assert filters.parse(json.dumps({"name": ["a", "b"]}), {"name"}) == {"name": ["a", "b"]}
    assert filters.parse(json.dumps({"name": {"a": True, "b": False}}), {"name"}) == {
        "name": ["a"]}
    assert filters.parse(None, {"name"}) == {}
    with pytest.raises(InvalidArgument, match="invalid filter 'color'"):
        filters.parse(json.dumps({"color": ["red"]}), {"name"})
    with pytest.raises(InvalidArgument, match="not JSON"):
        filters.parse("{", {"name"})


def test_service_filters():
    f = filters.parse(json.dumps({"name": ["we"], "label": ["tier=front", "team"],
                                  "mode": ["replicated"]}), filters.SERVICE_KEYS)
    req = filters.services_request(f)
    assert list(req.filters.name_prefixes) == ["we"] and list(req.modes) == ["replicated"]
    assert dict(req.filters.labels) == {"tier": "front", "team": ""}
    good = _svc("s1", "web", {"tier": "front", "team": "x"})
    assert filters.match_service(good, f)
    assert not filters.match_service(_svc("s2", "web", {"tier": "back", "team": "x"}), f)
    assert not filters.match_service(_svc("s3", "db", {"tier": "front", "team": "x"}), f)
    assert not filters.match_service(_svc("s4", "web", {"tier": "front", "team": "x"},
                                          global_=True), f)
    with pytest.raises(InvalidArgument, match="Invalid filter: 'mode'='job'"):
        filters.services_request({"mode": ["job"]})


def test_node_filters():
    n = objects_pb2.Node(id="abc123")
    n.spec.annotations.name = ""
    n.spec.annotations.labels["zone"] = "a"
    n.spec.desired_role = types_pb2.MANAGER
    n.description.hostname = "host-1"
    n.description.engine.labels["ssd"] = "yes"
    assert filters.match_node(n, {"name": ["host"], "role": ["manager"], "id": ["abc"],
                                  "node.label": ["zone=a"], "label": ["ssd"],
                                  "membership": ["accepted"]})
    assert not filters.match_node(n, {"role": ["worker"]})
    assert not filters.match_node(n, {"membership": ["pending"]})
    assert list(filters.nodes_request({"role": ["worker"]}).roles) == [types_pb2.WORKER]
    with pytest.raises(InvalidArgument, match="Invalid role filter: 'boss'"):
        filters.nodes_request({"role": ["boss"]})


def test_task_filters():
    t = objects_pb2.Task(id="t1", service_id="s1", node_id="n1", slot=1,
                         desired_state=types_pb2.RUNNING)
    t.service_annotations.name = "web"
    t.service_annotations.labels["tier"] = "front"
    f = {"name": ["web.1"], "desired-state": ["running"], "service": ["web"], "node": ["host"],
         "label": ["tier=front"]}
    assert filters.match_task(t, f, ["s1"], ["n1"])
    assert not filters.match_task(t, f, ["s2"], ["n1"])
    assert not filters.match_task(t, {"desired-state": ["shutdown"]}, [], [])
    req = filters.tasks_request(f, ["s1"], ["n1"])
    assert list(req.desired_states) == [types_pb2.RUNNING] and list(req.service_ids) == ["s1"]
    with pytest.raises(InvalidArgument, match="desired-state"):
        filters.tasks_request({"desired-state": ["dreaming"]}, [], [])


def test_service_status_counts_running_tasks_on_live_nodes():
    rep, glob = _svc("r", "rep", replicas=3), _svc("g", "glob", global_=True)
    up, down = objects_pb2.Node(id="up"), objects_pb2.Node(id="down")
    down.status.state = objects_pb2.NodeStatus.DOWN

    def task(sid, node, state, desired=types_pb2.RUNNING):
        t = objects_pb2.Task(service_id=sid, node_id=node, desired_state=desired)
        t.status.state = state
        return t

    tasks = [task("r", "up", types_pb2.RUNNING), task("r", "up", types_pb2.PREPARING),
             task("r", "down", types_pb2.RUNNING),
             task("r", "up", types_pb2.RUNNING, desired=types_pb2.SHUTDOWN),
             task("g", "up", types_pb2.RUNNING), task("g", "down", types_pb2.RUNNING)]
    st = service_statuses([rep, glob], tasks, [up, down])
    assert st["r"] == {"RunningTasks": 1, "DesiredTasks": 3, "CompletedTasks": 0}
    assert st["g"] == {"RunningTasks": 1, "DesiredTasks": 2, "CompletedTasks": 0}


async def test_lookup_by_id_name_and_prefix(stub, servicer):
    spec = specs_pb2.ServiceSpec(annotations=types_pb2.Annotations(name="web"))
    spec.task.container.image = "busybox"
    svc = (await stub.CreateService(c.CreateServiceRequest(spec=spec))).service
    assert (await lookup.get_service(stub, svc.id)).id == svc.id
    assert (await lookup.get_service(stub, "web")).id == svc.id
    assert (await lookup.get_service(stub, svc.id[:6])).id == svc.id
    with pytest.raises(NotFound, match="service nope not found"):
        await lookup.get_service(stub, "nope")
    node = next(n for n in servicer.nodes.values() if n.description.hostname == "worker-1")
    assert (await lookup.get_node(stub, "worker-1")).id == node.id
    task = next(iter(servicer.tasks.values()))
    assert (await lookup.get_task(stub, task.id[:8])).id == task.id


async def test_lookup_ambiguous_prefix(stub, servicer):
    for sid in ("aa1", "aa2"):
        servicer.services[sid] = _svc(sid, f"svc-{sid}")
    with pytest.raises(InvalidArgument, match=r"service aa is ambiguous \(2 matches found\)"):
        await lookup.get_service(stub, "aa")
