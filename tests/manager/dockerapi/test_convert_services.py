"""ServiceSpec and Service: Docker JSON → proto → JSON keeps every field that was set."""

from __future__ import annotations

import copy

import pytest

from shoal.engine.errors import InvalidArgument
from shoal.manager.dockerapi import convert
from shoal.proto.shoal.v1 import objects_pb2, types_pb2

SEC = 1_000_000_000

FULL_SPEC = {
    "Name": "web",
    "Labels": {"tier": "front"},
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": "busybox:latest",
            "Labels": {"c": "1"},
            "Command": ["sh", "-c"],
            "Args": ["sleep 100"],
            "Hostname": "web-host",
            "Env": ["A=1", "B="],
            "Dir": "/srv",
            "User": "nobody",
            "Groups": ["wheel"],
            "Init": True,
            "StopSignal": "SIGINT",
            "TTY": True,
            "OpenStdin": True,
            "ReadOnly": True,
            "Mounts": [
                {"Type": "bind", "Source": "/data", "Target": "/data", "ReadOnly": True},
                {"Type": "volume", "Source": "vol", "Target": "/vol",
                 "VolumeOptions": {"Labels": {"v": "1"},
                                   "DriverConfig": {"Name": "local", "Options": {"o": "x"}}}},
                {"Type": "tmpfs", "Target": "/tmp",
                 "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1777}},
            ],
            "StopGracePeriod": 3 * SEC,
            "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 2 * SEC,
                            "Timeout": SEC, "Retries": 3, "StartPeriod": 4 * SEC},
            "Hosts": ["10.0.0.1 db"],
            "DNSConfig": {"Nameservers": ["1.1.1.1"], "Search": ["example.org"],
                          "Options": ["ndots:2"]},
            "Secrets": [{"File": {"Name": "s", "UID": "0", "GID": "0", "Mode": 0o400},
                         "SecretID": "sid", "SecretName": "sname"}],
            "Configs": [{"File": {"Name": "c", "UID": "0", "GID": "0", "Mode": 0o444},
                         "ConfigID": "cid", "ConfigName": "cname"}],
            "Sysctls": {"net.core.somaxconn": "1024"},
            "CapabilityAdd": ["CAP_NET_ADMIN"],
            "CapabilityDrop": ["CAP_MKNOD"],
        },
        "Resources": {"Limits": {"NanoCPUs": SEC // 2, "MemoryBytes": 64 << 20},
                      "Reservations": {"NanoCPUs": SEC // 4, "MemoryBytes": 32 << 20}},
        "RestartPolicy": {"Condition": "on-failure", "Delay": 2 * SEC, "MaxAttempts": 4,
                          "Window": 60 * SEC},
        "Placement": {"Constraints": ["node.role==worker"],
                      "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
                      "MaxReplicas": 2,
                      "Platforms": [{"Architecture": "amd64", "OS": "linux"}]},
        "Networks": [{"Target": "backend", "Aliases": ["api"]}],
        "ForceUpdate": 3,
        "LogDriver": {"Name": "json-file", "Options": {"max-size": "10m"}},
    },
    "Mode": {"Replicated": {"Replicas": 3}},
    "UpdateConfig": {"Parallelism": 2, "Delay": SEC, "FailureAction": "rollback",
                     "Monitor": 5 * SEC, "MaxFailureRatio": 0.2, "Order": "start-first"},
    "RollbackConfig": {"Parallelism": 1, "Delay": 0, "FailureAction": "continue",
                       "Monitor": SEC, "MaxFailureRatio": 0, "Order": "stop-first"},
    "EndpointSpec": {"Mode": "dnsrr", "Ports": [
        {"Name": "http", "Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
         "PublishMode": "ingress"},
        {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "PublishMode": "host"},
    ]},
}


def assert_subset(want, got, path="$"):
    """Assert that every field of WANT is in GOT with the same value."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: {got!r} is not an object"
        for k, v in want.items():
            assert k in got, f"{path}.{k} is missing from {sorted(got)}"
            assert_subset(v, got[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{path}: {got!r} != {want!r}"
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            assert_subset(w, g, f"{path}[{i}]")
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


def test_full_service_spec_round_trips():
    spec = convert.service_spec_from_json(FULL_SPEC)
    assert spec.task.container.stop_grace_period.seconds == 3
    assert spec.task.restart.condition == types_pb2.RestartPolicy.ON_FAILURE
    assert spec.endpoint.ports[1].publish_mode == types_pb2.PortConfig.HOST
    assert_subset(FULL_SPEC, convert.service_spec_to_json(spec))


def test_round_trip_survives_serialisation():
    spec = convert.service_spec_from_json(FULL_SPEC)
    again = type(spec).FromString(spec.SerializeToString())
    assert convert.service_spec_to_json(again) == convert.service_spec_to_json(spec)


def test_global_mode_round_trips():
    body = {"Name": "g", "TaskTemplate": {"ContainerSpec": {"Image": "x"}},
            "Mode": {"Global": {}}}
    spec = convert.service_spec_from_json(body)
    assert spec.WhichOneof("mode") == "global"
    assert convert.service_spec_to_json(spec)["Mode"] == {"Global": {}}


def test_mode_defaults_to_one_replica():
    spec = convert.service_spec_from_json({"TaskTemplate": {"ContainerSpec": {"Image": "x"}}})
    assert spec.replicated.replicas == 1
    spec = convert.service_spec_from_json({"TaskTemplate": {"ContainerSpec": {"Image": "x"}},
                                           "Mode": {"Replicated": {}}})
    assert spec.replicated.replicas == 1


def test_zero_replicas_is_kept():
    spec = convert.service_spec_from_json({"TaskTemplate": {"ContainerSpec": {"Image": "x"}},
                                           "Mode": {"Replicated": {"Replicas": 0}}})
    assert spec.HasField("replicated") and spec.replicated.replicas == 0
    assert convert.service_spec_to_json(spec)["Mode"] == {"Replicated": {"Replicas": 0}}


def test_keys_match_case_insensitively_like_go():
    # the Docker SDK for Python sends ServiceMode as {"replicated": {"Replicas": n}}
    body = {"name": "x", "taskTemplate": {"containerspec": {"image": "busybox"}},
            "mode": {"replicated": {"Replicas": 4}}}
    spec = convert.service_spec_from_json(body)
    assert (spec.annotations.name, spec.task.container.image) == ("x", "busybox")
    assert spec.replicated.replicas == 4


def test_null_is_absent():
    body = {"Name": "x", "Labels": None, "TaskTemplate": {
        "ContainerSpec": {"Image": "x", "Env": None, "Healthcheck": None},
        "RestartPolicy": None}, "Mode": None, "EndpointSpec": None}
    spec = convert.service_spec_from_json(body)
    assert not spec.task.HasField("restart") and not spec.HasField("endpoint")
    assert spec.replicated.replicas == 1


def test_restart_condition_defaults_to_any():
    body = {"TaskTemplate": {"ContainerSpec": {"Image": "x"}, "RestartPolicy": {"Delay": 0}}}
    rp = convert.service_spec_from_json(body).task.restart
    assert rp.condition == types_pb2.RestartPolicy.ANY and rp.HasField("delay")


@pytest.mark.parametrize(("patch", "message"), [
    ({"TaskTemplate": {"ContainerSpec": {"Image": "x"},
                       "Resources": {"Limits": {"MemoryBytes": "64m"}}}},
     "Spec.TaskTemplate.Resources.Limits.MemoryBytes: must be an integer"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "x"},
                       "RestartPolicy": {"Condition": "always"}}},
     "Spec.TaskTemplate.RestartPolicy.Condition: invalid value 'always'"),
    ({"TaskTemplate": {"ContainerSpec": {}}}, "Spec.TaskTemplate.ContainerSpec.Image: required"),
    ({}, "Spec.TaskTemplate: required"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "x", "Env": "A=1"}}},
     "Spec.TaskTemplate.ContainerSpec.Env: must be a list"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "x", "Mounts": [{"Type": "npipe",
                                                                   "Target": "/x"}]}}},
     "Spec.TaskTemplate.ContainerSpec.Mounts[0].Type: invalid value 'npipe'"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "x"}}, "Mode": {"Replicated": {"Replicas": -1}}},
     "Spec.Mode.Replicated.Replicas: must not be negative"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "x"}}, "Mode": {"ReplicatedJob": {}}},
     "Spec.Mode.ReplicatedJob: jobs are not supported"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "x"}}, "Mode": {"global-job": {}}},
     "Spec.Mode.global-job: jobs are not supported"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "x"}},
      "EndpointSpec": {"Ports": [{"TargetPort": 70000}]}},
     "Spec.EndpointSpec.Ports[0].TargetPort: must be at most 65535"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "x"}},
      "UpdateConfig": {"MaxFailureRatio": 2}},
     "Spec.UpdateConfig.MaxFailureRatio: must be between 0 and 1"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "x"}, "Resources": {"Limits": {"Pids": 5}}}},
     "Spec.TaskTemplate.Resources.Limits.Pids: not supported"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "x", "TTY": "yes"}}},
     "Spec.TaskTemplate.ContainerSpec.TTY: must be a boolean"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "x", "Labels": {"a": 1}}}},
     "Spec.TaskTemplate.ContainerSpec.Labels.a: must be a string"),
])
def test_bad_input_names_the_field(patch, message):
    with pytest.raises(InvalidArgument) as err:
        convert.service_spec_from_json(patch)
    assert str(err.value).startswith(message), str(err.value)


def test_zero_valued_unsupported_settings_pass():
    # dockerd's own answers carry these zero values; a client that sends them back must pass
    body = {"TaskTemplate": {"ContainerSpec": {"Image": "x", "Isolation": "default",
                                               "Privileges": {"CredentialSpec": None}},
                             "Resources": {"Limits": {"Pids": 0}}, "Runtime": "container"}}
    convert.service_spec_from_json(body)


def _service() -> objects_pb2.Service:
    svc = objects_pb2.Service(id="svc1", spec=convert.service_spec_from_json(FULL_SPEC))
    svc.meta.version.index = 42
    svc.meta.created_at.FromNanoseconds(1_700_000_000_123_456_789)
    svc.meta.updated_at.FromNanoseconds(1_700_000_001_000_000_000)
    svc.previous_spec.CopyFrom(convert.service_spec_from_json(
        {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox:old"}}}))
    svc.endpoint.spec.CopyFrom(svc.spec.endpoint)
    svc.endpoint.ports.add(protocol=types_pb2.PortConfig.TCP, target_port=80,
                           published_port=8080)
    svc.endpoint.virtual_ips.add(network_id="net1", addr="10.0.0.2/24")
    svc.update_status.state = objects_pb2.UpdateStatus.ROLLBACK_STARTED
    svc.update_status.started_at.FromNanoseconds(1_700_000_002_000_000_000)
    svc.update_status.message = "update rolled back"
    return svc


def test_service_object_json():
    doc = convert.service_to_json(_service())
    assert doc["ID"] == "svc1" and doc["Version"] == {"Index": 42}
    assert doc["CreatedAt"] == "2023-11-14T22:13:20.123456789Z"
    assert doc["UpdatedAt"] == "2023-11-14T22:13:21Z"
    assert doc["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:old"
    assert doc["Endpoint"]["VirtualIPs"] == [{"NetworkID": "net1", "Addr": "10.0.0.2/24"}]
    assert doc["Endpoint"]["Ports"][0]["PublishedPort"] == 8080
    assert doc["UpdateStatus"]["State"] == "rollback_started"
    assert "CompletedAt" not in doc["UpdateStatus"]


def test_service_object_round_trips():
    doc = convert.service_to_json(_service())
    back = convert.service_from_json(copy.deepcopy(doc))
    assert back == _service()
    assert convert.service_to_json(back) == doc


def test_insert_defaults_are_swarmkits():
    svc = objects_pb2.Service(id="s", spec=convert.service_spec_from_json(
        {"TaskTemplate": {"ContainerSpec": {"Image": "x"},
                          "RestartPolicy": {"Condition": "none"}}}))
    plain = convert.service_to_json(svc)
    assert "UpdateConfig" not in plain["Spec"]
    doc = convert.service_to_json(svc, insert_defaults=True)["Spec"]
    assert doc["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] == 10 * SEC
    assert doc["TaskTemplate"]["RestartPolicy"] == {"Condition": "none", "Delay": 5 * SEC,
                                                    "MaxAttempts": 0}
    for key in ("UpdateConfig", "RollbackConfig"):
        assert doc[key] == {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5 * SEC,
                            "MaxFailureRatio": 0, "Order": "stop-first"}
    # and what it shows can be sent back as is (the SDK's fetch_current_spec does)
    assert convert.service_spec_to_json(convert.service_spec_from_json(doc)) == doc


def test_a_spec_sent_back_with_inserted_defaults_keeps_the_stored_parts():
    current = convert.service_spec_from_json(
        {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "x", "Args": ["sleep", "9"]}},
         "Mode": {"Replicated": {"Replicas": 2}}})
    svc = objects_pb2.Service(id="s", spec=current)
    doc = convert.service_to_json(svc, insert_defaults=True)["Spec"]
    doc["Mode"] = {"Replicated": {"Replicas": 3}}  # docker-py's Service.scale(3)
    got = convert.keep_current_where_only_defaults_differ(
        convert.service_spec_from_json(doc), current)
    assert got.task == current.task  # the tasks' spec is unchanged: a scale replaces none
    assert not got.HasField("update") and not got.HasField("rollback")
    assert got.replicated.replicas == 3
    # a real change is kept, whatever else was sent back
    doc["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] = 2 * SEC
    doc["UpdateConfig"]["Parallelism"] = 4
    got = convert.keep_current_where_only_defaults_differ(
        convert.service_spec_from_json(doc), current)
    assert got.task.container.stop_grace_period.seconds == 2
    assert got.update.parallelism == 4 and got.task != current.task


def test_docker_sdk_types_convert():
    docker = pytest.importorskip("docker")
    t = docker.types
    tmpl = t.TaskTemplate(
        container_spec=t.ContainerSpec(
            "busybox", command=["sleep", "100"], env={"K": "V"}, labels={"l": "1"},
            mounts=[t.Mount("/data", "vol", type="volume", labels={"v": "1"})],
            healthcheck=t.Healthcheck(test=["CMD", "true"], interval=SEC, retries=2),
            stop_grace_period=5 * SEC, hosts={"db": "10.0.0.9"},
            dns_config=t.DNSConfig(nameservers=["8.8.8.8"]), tty=True),
        resources=t.Resources(cpu_limit=SEC, mem_limit=128 << 20, mem_reservation=64 << 20),
        restart_policy=t.RestartPolicy(condition="on-failure", delay=SEC, max_attempts=3),
        placement=t.Placement(constraints=["node.role==manager"],
                              preferences=[("spread", "node.labels.zone")]),
        log_driver=t.DriverConfig("json-file", {"max-size": "1m"}),
    )
    body = {"Name": "sdk", "TaskTemplate": tmpl, "Mode": t.ServiceMode("replicated", 2),
            "UpdateConfig": t.UpdateConfig(parallelism=2, delay=SEC, order="start-first"),
            "EndpointSpec": t.EndpointSpec(ports={8080: (80, "udp")})}
    spec = convert.service_spec_from_json(body)
    c = spec.task.container
    assert c.env == ["K=V"] and c.hosts == ["10.0.0.9 db"]
    assert c.mounts[0].type == types_pb2.Mount.VOLUME and c.mounts[0].volume_labels["v"] == "1"
    assert c.healthcheck.interval.seconds == 1 and c.healthcheck.retries == 2
    assert c.tty and c.stop_grace_period.seconds == 5
    assert spec.task.resources.limits.memory_bytes == 128 << 20
    assert spec.task.placement.preferences[0].spread.spread_descriptor == "node.labels.zone"
    assert spec.replicated.replicas == 2
    assert spec.update.order == types_pb2.UpdateConfig.START_FIRST
    port = spec.endpoint.ports[0]
    assert (port.published_port, port.target_port, port.protocol) == (8080, 80, 1)
