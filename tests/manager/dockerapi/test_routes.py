"""The swarm REST routes over a FakeCluster whose Control API is a FakeControl on grpc.aio."""

from __future__ import annotations

import json
import struct

from shoal.manager.dockerapi.errors import ALREADY, NO_MANAGER, NOT_PART_OF_SWARM, WORKER
from shoal.proto.shoal.v1 import control_pb2 as c
from shoal.proto.shoal.v1 import objects_pb2, types_pb2

SPEC = {"Name": "web", "Labels": {"app": "demo"},
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["sleep", "100"]},
                         "RestartPolicy": {"Condition": "on-failure", "MaxAttempts": 2}},
        "Mode": {"Replicated": {"Replicas": 2}},
        "EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 8080}]}}


async def _create(api, spec=SPEC) -> str:
    r = await api.post("/v1.44/services/create", json=spec)
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["Warnings"] == []
    return body["ID"]


async def test_create_inspect_list_remove(api, servicer):
    sid = await _create(api)
    sent = servicer.requests[0]
    assert isinstance(sent, c.CreateServiceRequest)
    assert sent.spec.task.restart.max_attempts == 2 and sent.spec.replicated.replicas == 2
    for ref in (sid, "web", sid[:5]):
        r = await api.get(f"/services/{ref}")
        assert r.status == 200
        doc = await r.json()
        assert doc["ID"] == sid and doc["Spec"]["Name"] == "web"
        assert doc["Spec"]["EndpointSpec"]["Ports"][0]["PublishedPort"] == 8080
    r = await api.get("/services", params={"filters": json.dumps({"name": ["we"]}),
                                              "status": "true"})
    [doc] = await r.json()
    assert doc["ServiceStatus"] == {"RunningTasks": 2, "DesiredTasks": 2, "CompletedTasks": 0}
    r = await api.get("/services", params={"filters": json.dumps({"label": ["app=other"]})})
    assert await r.json() == []
    r = await api.delete(f"/services/{sid}")
    assert r.status == 200
    r = await api.get(f"/services/{sid}")
    assert r.status == 404
    assert (await r.json())["message"] == f"service {sid} not found"


async def test_create_conflict_and_bad_spec(api):
    await _create(api)
    r = await api.post("/services/create", json=SPEC)
    assert r.status == 409
    assert (await r.json())["message"] == "service web already exists"
    bad = {"TaskTemplate": {"ContainerSpec": {"Image": "x"},
                            "Resources": {"Limits": {"MemoryBytes": "lots"}}}}
    r = await api.post("/services/create", json=bad)
    assert r.status == 400
    assert (await r.json())["message"] == (
        "Spec.TaskTemplate.Resources.Limits.MemoryBytes: must be an integer")
    r = await api.post("/services/create", data=b"[1]")
    assert r.status == 400


async def test_update_checks_the_version(api, servicer):
    sid = await _create(api)
    doc = await (await api.get(f"/services/{sid}")).json()
    version = doc["Version"]["Index"]
    spec = doc["Spec"]
    spec["Mode"]["Replicated"]["Replicas"] = 3
    r = await api.post(f"/services/{sid}/update", params={"version": version}, json=spec)
    assert r.status == 200 and await r.json() == {"Warnings": []}
    assert servicer.services[sid].spec.replicated.replicas == 3
    r = await api.post(f"/services/{sid}/update", params={"version": version}, json=spec)
    assert r.status == 409
    assert "out of sequence" in (await r.json())["message"]
    r = await api.post(f"/services/{sid}/update", json=spec)
    assert r.status == 400 and "invalid service version" in (await r.json())["message"]
    # rollback=previous returns to the spec before the update
    doc = await (await api.get(f"/services/{sid}")).json()
    assert doc["PreviousSpec"]["Mode"]["Replicated"]["Replicas"] == 2
    r = await api.post(f"/services/{sid}/update",
                          params={"version": doc["Version"]["Index"], "rollback": "previous"},
                          json=doc["Spec"])
    assert r.status == 200
    assert servicer.services[sid].spec.replicated.replicas == 2


async def test_insert_defaults(api):
    sid = await _create(api)
    doc = await (await api.get(f"/services/{sid}", params={"insertDefaults": "true"})).json()
    assert doc["Spec"]["UpdateConfig"]["Monitor"] == 5_000_000_000
    assert doc["Spec"]["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] == 10_000_000_000


async def test_tasks(api, servicer):
    sid = await _create(api)
    r = await api.get("/tasks", params={"filters": json.dumps(
        {"service": ["web"], "desired-state": ["running"]})})
    tasks = await r.json()
    assert sorted(t["Slot"] for t in tasks) == [1, 2]
    assert {t["ServiceID"] for t in tasks} == {sid}
    assert {t["Status"]["State"] for t in tasks} == {"running"}
    assert all(t["Status"]["ContainerStatus"]["PID"] > 1000 for t in tasks)
    r = await api.get(f"/tasks/{tasks[0]['ID']}")
    assert (await r.json())["ID"] == tasks[0]["ID"]
    r = await api.get("/tasks", params={"filters": json.dumps({"service": ["nope"]})})
    assert r.status == 404 and (await r.json())["message"] == "service nope not found"
    r = await api.get("/tasks", params={"filters": json.dumps({"colour": ["red"]})})
    assert r.status == 400
    worker = next(n for n in servicer.nodes.values() if n.description.hostname == "worker-1")
    r = await api.get("/tasks", params={"filters": json.dumps({"node": ["worker-1"]})})
    assert {t["NodeID"] for t in await r.json()} <= {worker.id}


async def test_nodes(api, servicer):
    r = await api.get("/nodes")
    nodes = await r.json()
    assert sorted(n["Description"]["Hostname"] for n in nodes) == ["manager-1", "worker-1"]
    r = await api.get("/nodes", params={"filters": json.dumps({"role": ["manager"]})})
    [mgr] = await r.json()
    assert mgr["ManagerStatus"]["Leader"] is True and mgr["Spec"]["Role"] == "manager"
    r = await api.get("/nodes/worker-1")
    worker = await r.json()
    spec = dict(worker["Spec"], Availability="drain", Labels={"zone": "b"})
    r = await api.post(f"/nodes/{worker['ID']}/update",
                          params={"version": worker["Version"]["Index"]}, json=spec)
    assert r.status == 200, await r.text()
    stored = servicer.nodes[worker["ID"]]
    assert stored.spec.annotations.labels["zone"] == "b"
    r = await api.post(f"/nodes/{worker['ID']}/update", params={"version": 1},
                          json={"Role": "worker"})
    assert r.status == 400 and "Availability" in (await r.json())["message"]
    r = await api.delete(f"/nodes/{worker['ID']}")
    assert r.status == 409 and "is not down" in (await r.json())["message"]
    r = await api.delete(f"/nodes/{worker['ID']}", params={"force": "1"})
    assert r.status == 200 and worker["ID"] not in servicer.nodes
    r = await api.get("/nodes/nope")
    assert r.status == 404


async def test_swarm_inspect_and_update(api, servicer):
    doc = await (await api.get("/swarm")).json()
    assert doc["ID"] == servicer.cluster.id
    assert doc["JoinTokens"] == {"Worker": "SWMTKN-1-fake-worker",
                                 "Manager": "SWMTKN-1-fake-manager"}
    assert doc["Spec"]["Orchestration"] == {"TaskHistoryRetentionLimit": 5}
    r = await api.post("/swarm/update", params={"version": doc["Version"]["Index"],
                                                   "rotateWorkerToken": "true"},
                          json={"Orchestration": {"TaskHistoryRetentionLimit": 10}})
    assert r.status == 200, await r.text()
    sent = servicer.requests[-1]
    assert sent.rotation.worker_join_token and not sent.rotation.manager_join_token
    assert sent.spec.annotations.name == "default"  # kept: the body had no Name
    doc2 = await (await api.get("/swarm")).json()
    assert doc2["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 10
    assert doc2["JoinTokens"]["Worker"] != doc["JoinTokens"]["Worker"]
    r = await api.post("/swarm/update", params={"version": doc["Version"]["Index"]}, json={})
    assert r.status == 409


async def test_not_in_a_swarm_and_worker_answer_503(api, cluster):
    cluster.state = "none"
    for path in ("/swarm", "/services", "/nodes", "/tasks", "/services/x", "/nodes/x"):
        r = await api.get(path)
        assert r.status == 503 and (await r.json())["message"] == NO_MANAGER, path
    r = await api.post("/swarm/leave")
    assert r.status == 503 and (await r.json())["message"] == NOT_PART_OF_SWARM
    cluster.state = "worker"
    r = await api.post("/services/create", json=SPEC)
    assert r.status == 503 and (await r.json())["message"] == WORKER


async def test_init_join_leave(api, cluster):
    r = await api.post("/swarm/init", json={"ListenAddr": "0.0.0.0:4242"})
    assert r.status == 503 and (await r.json())["message"] == ALREADY
    r = await api.post("/swarm/leave", params={"force": "true"})
    assert r.status == 200 and cluster.state == "none"
    r = await api.post("/swarm/init", json={"ListenAddr": "0.0.0.0:4242",
                                               "AdvertiseAddr": "10.0.0.1"})
    assert r.status == 200 and await r.json() == cluster.node_id
    assert cluster.inits[0]["AdvertiseAddr"] == "10.0.0.1"
    await api.post("/swarm/leave", params={"force": "true"})
    r = await api.post("/swarm/join", json={"RemoteAddrs": ["10.0.0.1:4242"]})
    assert r.status == 400 and (await r.json())["message"] == "JoinToken: required"
    r = await api.post("/swarm/join", json={"RemoteAddrs": ["10.0.0.1:4242"],
                                               "JoinToken": "SWMTKN-1-x"})
    assert r.status == 200 and cluster.state == "worker"


async def test_no_backend_means_not_in_a_swarm():
    from aiohttp.test_utils import TestClient, TestServer

    from shoal.engine.api.app import make_app

    async with TestClient(TestServer(make_app(None))) as api:
        r = await api.get("/v1.44/swarm")
        assert r.status == 503 and (await r.json())["message"] == NO_MANAGER


async def test_service_logs_are_multiplexed(api, cluster):
    sid = await _create(api)
    r = await api.get(f"/services/{sid}/logs", params={"stdout": "1", "stderr": "1",
                                                          "tail": "5", "details": "1"})
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    raw = await r.read()
    frames = []
    while raw:
        stream, size = struct.unpack(">BxxxL", raw[:8])
        frames.append((stream, raw[8:8 + size]))
        raw = raw[8 + size:]
    assert frames == [(1, f"{sid} hello\n".encode()), (2, b"oops\n")]
    opts = cluster.log_opts[-1]
    assert opts.tail == 5 and opts.details and not opts.follow
    r = await api.get(f"/services/{sid}/logs")
    assert r.status == 400 and "at least one stream" in (await r.json())["message"]


async def test_grpc_errors_map_to_http(api, servicer):
    import grpc

    servicer.failures["ListServices"] = (grpc.StatusCode.PERMISSION_DENIED, "workers may not")
    r = await api.get("/services")
    assert r.status == 403 and (await r.json())["message"] == "workers may not"
    servicer.failures["ListNodes"] = (grpc.StatusCode.UNAVAILABLE, "etcd is down")
    r = await api.get("/nodes")
    assert r.status == 503 and (await r.json())["message"] == "etcd is down"
    servicer.failures["ListNodes"] = (grpc.StatusCode.INTERNAL, "boom")
    r = await api.get("/nodes")
    assert r.status == 500 and (await r.json())["message"] == "boom"


async def test_global_service_status(api, servicer):
    spec = dict(SPEC, Name="mon", Mode={"Global": {}})
    sid = await _create(api, spec)
    down = next(iter(servicer.nodes.values()))
    down.status.state = objects_pb2.NodeStatus.DOWN
    r = await api.get("/services", params={"status": "1"})
    [doc] = [d for d in await r.json() if d["ID"] == sid]
    assert doc["Spec"]["Mode"] == {"Global": {}}
    assert doc["ServiceStatus"]["DesiredTasks"] == 2
    assert doc["ServiceStatus"]["RunningTasks"] == 1
    assert all(t.desired_state == types_pb2.RUNNING for t in servicer.tasks.values())
