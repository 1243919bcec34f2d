"""`shoal cluster` (alias `swarm`) and `shoal node`: request shapes and output."""

from __future__ import annotations

import json

import pytest

from tests.cli.fakeswarm import install


@pytest.fixture
def swarm(daemon):
    return install(daemon)


@pytest.fixture
def fresh(daemon):
    return install(daemon, active=False)


def test_init_request_and_join_hint(daemon, fresh, shoal):
    r = shoal("cluster", "init", "--advertise-addr", "10.0.0.1", "--etcd-endpoints",
              "http://10.0.0.5:2379,http://10.0.0.6:2379", "--task-history-limit", "3",
              "--dispatcher-heartbeat", "2s")
    assert r.code == 0, r
    init = next(q for q in daemon.requests if q.path == "/swarm/init")
    assert init.method == "POST"
    assert init.json() == {
        "ListenAddr": "0.0.0.0:4242", "AdvertiseAddr": "10.0.0.1", "ForceNewCluster": False,
        "Availability": "active",
        "Spec": {"Orchestration": {"TaskHistoryRetentionLimit": 3},
                 "Dispatcher": {"HeartbeatPeriod": 2_000_000_000}},
        "EtcdEndpoints": ["http://10.0.0.5:2379", "http://10.0.0.6:2379"]}
    assert daemon.calls()[-2:] == [f"GET /nodes/{fresh.node_id}", "GET /swarm"]
    assert r.out == (
        f"Cluster initialized: current node ({fresh.node_id}) is now a manager.\n\n"
        "To add a worker to this cluster, run the following command:\n\n"
        "    shoal cluster join --token SWMTKN-1-worker-0 10.0.0.1:4242\n\n"
        "To add a manager to this cluster, run 'shoal cluster join-token manager' and follow "
        "the instructions.\n\n")


def test_init_minimal_body_and_swarm_alias(daemon, fresh, shoal):
    assert shoal("swarm", "init").code == 0
    body = next(q for q in daemon.requests if q.path == "/swarm/init").json()
    assert body == {"ListenAddr": "0.0.0.0:4242", "AdvertiseAddr": "", "ForceNewCluster": False,
                    "Availability": "active", "Spec": {}}
    r = shoal("swarm", "init")
    assert r.code == 1 and r.err == "Error response from daemon: This node is already part of " \
                                    "a swarm.\n"


def test_init_bad_flags(fresh, shoal):
    r = shoal("cluster", "init", "--etcd-endpoints", "10.0.0.5:2379")
    assert r.code == 125 and "expected http(s)://HOST:PORT" in r.err
    r = shoal("cluster", "init", "--dispatcher-heartbeat", "5")
    assert r.code == 125
    assert 'invalid argument "5" for "--dispatcher-heartbeat" flag: time: missing unit' in r.err


def test_join(daemon, fresh, shoal):
    r = shoal("cluster", "join", "--token", "SWMTKN-1-abc", "--advertise-addr", "eth0",
              "10.0.0.1:4242")
    assert r.code == 0, r
    join = next(q for q in daemon.requests if q.path == "/swarm/join")
    assert join.json() == {"ListenAddr": "0.0.0.0:4242", "AdvertiseAddr": "eth0",
                           "RemoteAddrs": ["10.0.0.1:4242"], "JoinToken": "SWMTKN-1-abc",
                           "Availability": "active"}
    assert r.out == "This node joined a cluster as a worker.\n"
    shoal("cluster", "join", "--token", "T", "10.0.0.1")
    assert daemon.requests[-2].json()["RemoteAddrs"] == ["10.0.0.1:4242"]
    r = shoal("cluster", "join", "10.0.0.1")
    assert r.code == 1 and "join token is required" in r.err


def test_leave(daemon, swarm, shoal):
    r = shoal("cluster", "leave", "--force")
    assert r.code == 0 and r.out == "Node left the cluster.\n"
    assert daemon.requests[-1].raw_query == "force=1"
    shoal("swarm", "leave")
    assert daemon.requests[-1].raw_query == ""


def test_inspect(daemon, swarm, shoal):
    r = shoal("cluster", "inspect")
    doc = json.loads(r.out)
    assert doc[0]["JoinTokens"]["Worker"] == "SWMTKN-1-worker-0"
    assert shoal("cluster", "inspect", "-f", "{{.Version.Index}}").out == "1\n"


def test_inspect_not_a_manager(daemon, fresh, shoal):
    r = shoal("cluster", "inspect")
    assert r.code == 1 and "This node is not a swarm manager" in r.err


def test_join_token_show_quiet_rotate(daemon, swarm, shoal):
    r = shoal("cluster", "join-token", "manager")
    assert r.out == ("To add a manager to this cluster, run the following command:\n\n"
                     "    shoal cluster join --token SWMTKN-1-manager-0 10.0.0.1:4242\n\n")
    assert shoal("cluster", "join-token", "-q", "worker").out == "SWMTKN-1-worker-0\n"
    n = len(daemon.requests)
    r = shoal("cluster", "join-token", "--rotate", "worker")
    assert r.code == 0, r
    upd = daemon.requests[n + 1]
    assert upd.method == "POST" and upd.path == "/swarm/update"
    assert upd.query == {"version": ["1"], "rotateWorkerToken": ["true"],
                         "rotateManagerToken": ["false"], "rotateManagerUnlockKey": ["false"]}
    assert r.out.startswith("Successfully rotated worker join token.\n\n")
    assert "--token SWMTKN-1-worker-1 10.0.0.1:4242" in r.out
    assert shoal("cluster", "join-token", "--rotate", "-q", "manager").out == \
        "SWMTKN-1-manager-2\n"
    r = shoal("cluster", "join-token", "admin")
    assert r.code == 1 and r.err == "unknown role admin\n"


def test_update_keeps_spec_and_sends_version(daemon, swarm, shoal):
    swarm.spec = {"Name": "default", "Orchestration": {"TaskHistoryRetentionLimit": 5},
                  "CAConfig": {"NodeCertExpiry": 1}}
    r = shoal("cluster", "update", "--task-history-limit", "10", "--dispatcher-heartbeat", "1m")
    assert r.code == 0 and r.out == "Cluster updated.\n"
    upd = daemon.requests[-1]
    assert upd.query["version"] == ["1"] and upd.query["rotateWorkerToken"] == ["false"]
    assert upd.json() == {"Name": "default",
                          "Orchestration": {"TaskHistoryRetentionLimit": 10},
                          "CAConfig": {"NodeCertExpiry": 1},
                          "Dispatcher": {"HeartbeatPeriod": 60_000_000_000}}


# -- node -------------------------------------------------------------------------

def test_node_ls(daemon, swarm, shoal):
    w = swarm.add_node("node-2", state="down")
    r = shoal("node", "ls")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER",
                                "STATUS", "ENGINE", "VERSION"]
    assert lines[1].split() == [swarm.node_id, "*", "node-1", "Ready", "Active", "Leader",
                                "0.1.0"]
    assert lines[2].split() == [w["ID"], "node-2", "Down", "Active", "0.1.0"]
    assert daemon.calls()[-2:] == ["GET /nodes", "GET /info"]
    assert shoal("node", "ls", "-q").out == f"{swarm.node_id}\n{w['ID']}\n"
    shoal("node", "ls", "-f", "role=manager", "-q")
    assert json.loads(daemon.requests[-1].q("filters")) == {"role": ["manager"]}
    r = shoal("node", "ls", "--format", "{{.Hostname}} {{.Self}}")
    assert r.out == "node-1 true\nnode-2 false\n"


def test_node_inspect_self_and_pretty(daemon, swarm, shoal):
    r = shoal("node", "inspect", "self")
    assert json.loads(r.out)[0]["ID"] == swarm.node_id
    assert daemon.calls()[-2:] == ["GET /info", f"GET /nodes/{swarm.node_id}"]
    r = shoal("node", "inspect", "--pretty", "node-1")
    assert "Hostname:           node-1" in r.out
    assert " Leader:            Yes" in r.out and " Memory:            8GiB" in r.out
    r = shoal("node", "inspect", "nope")
    assert r.code == 1 and "node nope not found" in r.err


def test_node_update(daemon, swarm, shoal):
    node = swarm.nodes[swarm.node_id]
    node["Spec"]["Labels"] = {"old": "1", "keep": "x"}
    r = shoal("node", "update", "--availability", "drain", "--label-add", "zone=a",
              "--label-rm", "old", "node-1")
    assert r.code == 0 and r.out == "node-1\n"
    get, upd = daemon.requests[-2:]
    assert get.path == "/nodes/node-1"
    assert upd.path == f"/nodes/{swarm.node_id}/update" and upd.query == {"version": ["1"]}
    assert upd.json() == {"Role": "manager", "Availability": "drain",
                          "Labels": {"keep": "x", "zone": "a"}}
    r = shoal("node", "update", "--label-rm", "nope", "node-1")
    assert r.code == 1 and "key nope doesn't exist in node's labels" in r.err
    r = shoal("node", "update", "--availability", "sleepy", "node-1")
    assert r.code == 125


def test_node_promote_demote(daemon, swarm, shoal):
    w = swarm.add_node("node-2")
    r = shoal("node", "promote", "node-2", "node-1")
    assert r.out == ("Node node-2 promoted to a manager in the cluster.\n"
                     "Node node-1 is already a manager.\n")
    assert swarm.nodes[w["ID"]]["Spec"]["Role"] == "manager"
    r = shoal("node", "demote", "node-2")
    assert r.out == "Manager node-2 demoted in the cluster.\n"
    assert daemon.requests[-1].json()["Role"] == "worker"


def test_node_rm(daemon, swarm, shoal):
    swarm.add_node("node-2")
    r = shoal("node", "rm", "node-2")
    assert r.code == 1 and "is not down and can't be removed" in r.err
    r = shoal("node", "rm", "-f", "node-2")
    assert r.code == 0 and r.out == "node-2\n"
    assert daemon.requests[-1].method == "DELETE" and daemon.requests[-1].raw_query == "force=1"


def test_node_ps(daemon, swarm, shoal, monkeypatch):
    shoal("service", "create", "-d", "--name", "web", "--replicas", "2", "busybox")
    for _ in range(6):
        swarm.advance()
    r = shoal("node", "ps")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].split()[:4] == ["ID", "NAME", "IMAGE", "NODE"]
    assert [ln.split()[1:4] for ln in lines[1:]] == [["web.1", "busybox", "node-1"],
                                                      ["web.2", "busybox", "node-1"]]
    tasks = next(q for q in reversed(daemon.requests) if q.path == "/tasks")
    assert json.loads(tasks.q("filters")) == {"node": [swarm.node_id]}


def test_init_hint_falls_back_to_remote_managers(daemon, fresh, shoal, monkeypatch):
    from shoal.cli.commands import cluster

    monkeypatch.setattr(cluster, "INIT_WAIT", 0.2)

    def info(_d, req):
        req.conn.respond(200, {"Swarm": {"NodeID": fresh.node_id, "RemoteManagers": [
            {"NodeID": "other", "Addr": "10.0.0.9:4242"},
            {"NodeID": fresh.node_id, "Addr": "10.0.0.2:4242"}]}})

    daemon.route("GET", r"/info", info)
    original = fresh.add_node

    def add_node(*args, **kwargs):
        node = original(*args, **kwargs)
        node.pop("ManagerStatus", None)  # not reported yet
        return node

    fresh.add_node = add_node
    r = shoal("cluster", "init", "--advertise-addr", "10.0.0.2")
    assert r.code == 0, r
    assert "    shoal cluster join --token SWMTKN-1-worker-0 10.0.0.2:4242\n" in r.out
