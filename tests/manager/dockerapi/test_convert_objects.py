"""Task, Node, Swarm and Network: Docker JSON ⇄ proto, both ways."""

from __future__ import annotations

import copy
import datetime

import pytest

from shoal.engine.errors import InvalidArgument
from shoal.manager.dockerapi import convert
from shoal.manager.dockerapi.fields import format_time, parse_time
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2, types_pb2
from tests.manager.dockerapi.test_convert_services import assert_subset

SEC = 1_000_000_000

NETWORK = {
    "ID": "net1", "Version": {"Index": 7}, "CreatedAt": "2024-01-02T03:04:05.5Z",
    "UpdatedAt": "2024-01-02T03:04:06Z",
    "Spec": {"Name": "backend", "Labels": {"n": "1"},
             "DriverConfiguration": {"Name": "overlay"}, "Attachable": True,
             "IPAMOptions": {"Driver": {"Name": "default"},
                             "Configs": [{"Subnet": "10.0.1.0/24", "Gateway": "10.0.1.1"}]},
             "Scope": "swarm"},
    "DriverState": {"Name": "overlay", "Options": {"vni": "4097"}},
    "IPAMOptions": {"Driver": {"Name": "default"},
                    "Configs": [{"Subnet": "10.0.1.0/24", "Gateway": "10.0.1.1"}]},
}

TASK = {
    "ID": "task1", "Version": {"Index": 11}, "CreatedAt": "2024-01-02T03:04:05.000000001Z",
    "UpdatedAt": "2024-01-02T03:04:05.1Z", "Name": "web.1.task1", "Labels": {"t": "1"},
    "Spec": {"ContainerSpec": {"Image": "busybox", "Args": ["top"]},
             "RestartPolicy": {"Condition": "any", "MaxAttempts": 0}, "ForceUpdate": 0},
    "ServiceID": "svc1", "Slot": 1, "NodeID": "node1",
    "Status": {"Timestamp": "2024-01-02T03:04:07Z", "State": "running", "Message": "started",
               "ContainerStatus": {"ContainerID": "c0ffee", "PID": 4242, "ExitCode": 0},
               "PortStatus": {"Ports": [{"Protocol": "tcp", "TargetPort": 80,
                                         "PublishedPort": 30000, "PublishMode": "host"}]}},
    "DesiredState": "running",
    "NetworksAttachments": [{"Network": NETWORK, "Addresses": ["10.0.1.5/24"]}],
}

NODE = {
    "ID": "node1", "Version": {"Index": 3}, "CreatedAt": "2024-01-02T03:04:05Z",
    "UpdatedAt": "2024-01-02T03:04:05Z",
    "Spec": {"Name": "n1", "Labels": {"zone": "a"}, "Role": "manager", "Availability": "drain"},
    "Description": {"Hostname": "host1", "Platform": {"Architecture": "x86_64", "OS": "linux"},
                    "Resources": {"NanoCPUs": 4 * SEC, "MemoryBytes": 8 << 30},
                    "Engine": {"EngineVersion": "0.1.0", "Labels": {"e": "1"}}},
    "Status": {"State": "ready", "Addr": "10.0.0.1"},
    "ManagerStatus": {"Leader": True, "Reachability": "reachable", "Addr": "10.0.0.1:4242"},
}

SWARM = {
    "ID": "clu1", "Version": {"Index": 9}, "CreatedAt": "2024-01-02T03:04:05Z",
    "UpdatedAt": "2024-01-02T03:04:05Z",
    "Spec": {"Name": "default", "Labels": {"s": "1"},
             "Orchestration": {"TaskHistoryRetentionLimit": 5},
             "Dispatcher": {"HeartbeatPeriod": 5 * SEC},
             "CAConfig": {"NodeCertExpiry": 90 * 24 * 3600 * SEC},
             "TaskDefaults": {"LogDriver": {"Name": "json-file"}},
             "EncryptionConfig": {"AutoLockManagers": False}},
    "JoinTokens": {"Worker": "SWMTKN-1-w", "Manager": "SWMTKN-1-m"},
}


@pytest.mark.parametrize("text", [
    "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.5Z", "2024-01-02T03:04:05.000000001Z",
    "1999-12-31T23:59:59.123456789Z",
])
def test_times_round_trip_like_rfc3339nano(text):
    assert format_time(parse_time(text)) == text


def test_time_offsets_and_zero():
    assert format_time(parse_time("2024-01-02T05:04:05+02:00")) == "2024-01-02T03:04:05Z"
    assert format_time(None) == "0001-01-01T00:00:00Z"


def test_task_round_trips():
    t = convert.task_from_json(copy.deepcopy(TASK))
    assert t.status.state == types_pb2.RUNNING and t.desired_state == types_pb2.RUNNING
    assert t.networks[0].network.spec.annotations.name == "backend"
    assert t.meta.created_at.nanos == 1
    doc = convert.task_to_json(t)
    assert_subset(TASK, doc)
    assert convert.task_from_json(doc) == t


def test_task_states_are_lower_case_names():
    t = objects_pb2.Task(id="t", desired_state=types_pb2.SHUTDOWN)
    t.status.state = types_pb2.ORPHANED
    doc = convert.task_to_json(t)
    assert (doc["DesiredState"], doc["Status"]["State"]) == ("shutdown", "orphaned")
    assert doc["Status"]["Timestamp"] == "0001-01-01T00:00:00Z"
    assert "Slot" not in doc and "NodeID" not in doc and doc["Labels"] == {}


def test_task_name_falls_back_to_dockers_form():
    t = objects_pb2.Task(id="abc", slot=2)
    t.service_annotations.name = "web"
    assert convert.task_name(t) == "web.2.abc"
    g = objects_pb2.Task(id="abc", node_id="n1")
    g.service_annotations.name = "mon"
    assert convert.task_name(g) == "mon.n1.abc"


def test_node_round_trips():
    n = convert.node_from_json(copy.deepcopy(NODE))
    assert n.spec.availability == specs_pb2.NodeSpec.DRAIN
    assert n.manager_status.leader
    doc = convert.node_to_json(n)
    assert_subset(NODE, doc)
    assert convert.node_from_json(doc) == n


def test_worker_node_has_no_manager_status():
    n = convert.node_from_json({k: v for k, v in NODE.items() if k != "ManagerStatus"})
    assert "ManagerStatus" not in convert.node_to_json(n)


def test_node_spec_needs_role_and_availability():
    with pytest.raises(InvalidArgument, match=r"Spec.Role: invalid value ''"):
        convert.node_spec_from_json({"Availability": "active"})
    with pytest.raises(InvalidArgument, match=r"Spec.Availability: invalid value 'gone'"):
        convert.node_spec_from_json({"Role": "worker", "Availability": "gone"})
    spec = convert.node_spec_from_json({"Role": "Manager", "Availability": "pause",
                                        "Labels": {"a": "b"}})
    assert spec.desired_role == types_pb2.MANAGER
    assert convert.node_spec_to_json(spec) == {"Labels": {"a": "b"}, "Role": "manager",
                                               "Availability": "pause"}


def test_swarm_round_trips():
    c = convert.cluster_from_json(copy.deepcopy(SWARM))
    assert c.spec.orchestration.task_history_retention_limit == 5
    assert c.spec.dispatcher.heartbeat_period.seconds == 5
    doc = convert.swarm_to_json(c)
    assert_subset(SWARM, doc)
    assert convert.cluster_from_json(doc) == c


def test_swarm_update_merges_like_dockerd():
    current = convert.cluster_spec_from_json(SWARM["Spec"])
    merged = convert.merge_cluster_spec(
        {"Name": "", "Orchestration": {"TaskHistoryRetentionLimit": 2},
         "Dispatcher": {"HeartbeatPeriod": 0}, "CAConfig": {}}, current)
    assert merged.annotations.name == "default"  # "" keeps the name
    assert merged.annotations.labels == {"s": "1"}
    assert merged.orchestration.task_history_retention_limit == 2
    assert merged.dispatcher.heartbeat_period.seconds == 5  # 0 keeps the period
    with pytest.raises(InvalidArgument, match="Spec.CAConfig.SigningCAKey"):
        convert.merge_cluster_spec({"CAConfig": {"SigningCAKey": "PEM"}}, current)
    with pytest.raises(InvalidArgument, match="Spec.EncryptionConfig.AutoLockManagers"):
        convert.merge_cluster_spec({"EncryptionConfig": {"AutoLockManagers": True}}, current)


def test_swarm_tls_info_from_the_root_certificate():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "swarm-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    c = objects_pb2.Cluster(id="c")
    c.root_ca.ca_cert = pem
    c.root_ca.ca_key = b"secret"
    doc = convert.swarm_to_json(c)
    assert doc["TLSInfo"]["TrustRoot"] == pem.decode()
    assert doc["TLSInfo"]["CertIssuerSubject"] and doc["TLSInfo"]["CertIssuerPublicKey"]
    assert "secret" not in repr(doc)


def test_init_and_join_requests():
    req = convert.init_request_from_json({"listenAddr": "0.0.0.0:4242",
                                          "Spec": {"Orchestration": {
                                              "TaskHistoryRetentionLimit": 3}}})
    assert req["ListenAddr"] == "0.0.0.0:4242" and req["AdvertiseAddr"] == ""
    assert req["Availability"] == "active" and not req["ForceNewCluster"]
    assert convert.cluster_spec_from_json(
        req["Spec"]).orchestration.task_history_retention_limit == 3
    with pytest.raises(InvalidArgument, match="Spec.Dispatcher.HeartbeatPeriod"):
        convert.init_request_from_json({"Spec": {"Dispatcher": {"HeartbeatPeriod": "5s"}}})
    with pytest.raises(InvalidArgument, match="RemoteAddrs"):
        convert.join_request_from_json({"JoinToken": "t"})
    with pytest.raises(InvalidArgument, match="JoinToken"):
        convert.join_request_from_json({"RemoteAddrs": ["10.0.0.1:4242"]})
    j = convert.join_request_from_json({"RemoteAddrs": ["10.0.0.1:4242"], "JoinToken": "t",
                                        "Availability": "drain"})
    assert j["Availability"] == "drain" and j["RemoteAddrs"] == ["10.0.0.1:4242"]


def test_swarm_network_round_trips():
    net = convert.network_from_swarm_json(copy.deepcopy(NETWORK))
    doc = convert.network_to_swarm_json(net)
    assert_subset(NETWORK, doc)


def test_network_create_and_resource():
    spec = convert.network_spec_from_create({
        "Name": "backend", "Attachable": True, "Labels": {"a": "b"},
        "IPAM": {"Config": [{"Subnet": "10.0.9.0/24", "Gateway": "10.0.9.1",
                             "IPRange": "10.0.9.128/25"}]}})
    assert spec.driver_config.name == "overlay" and spec.ipam.configs[0].range == "10.0.9.128/25"
    net = objects_pb2.Network(id="n1", spec=spec)
    net.driver_state.name = "overlay"
    net.driver_state.options["vni"] = "4100"
    doc = convert.network_to_resource(net)
    assert doc["Scope"] == "swarm" and doc["Driver"] == "overlay" and doc["Attachable"]
    assert doc["Options"] == {"com.docker.network.driver.overlay.vxlanid_list": "4100"}
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.0.9.0/24", "IPRange": "10.0.9.128/25",
                                      "Gateway": "10.0.9.1"}]
    with pytest.raises(InvalidArgument, match="Name: required"):
        convert.network_spec_from_create({})
