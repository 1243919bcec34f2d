"""A task's Docker create request: names, labels and the spec fields, as Docker maps them."""

from __future__ import annotations

from shoal.agent.exec.containerspec import container_name, create_body
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import Mount, PortConfig


def _task() -> Task:
    t = Task(id="t1", service_id="s1", slot=3, node_id="n1")
    t.service_annotations.name = "web"
    c = t.spec.container
    c.image = "busybox:latest"
    c.command.extend(["/bin/sh", "-c"])
    c.args.append("sleep 1000")
    c.env.append("A=1")
    c.user, c.dir, c.hostname, c.stop_signal = "nobody", "/srv", "box", "SIGINT"
    c.labels["team"] = "blue"
    c.stop_grace_period.FromSeconds(7)
    h = c.healthcheck
    h.test.extend(["CMD-SHELL", "true"])
    h.interval.FromSeconds(2)
    h.timeout.FromSeconds(1)
    h.retries = 4
    c.hosts.append("10.0.0.9 db database")
    c.mounts.add(type=Mount.TMPFS, target="/tmp", tmpfs_size_bytes=1 << 20)
    t.spec.resources.limits.memory_bytes = 32 << 20
    t.spec.resources.limits.nano_cpus = 250_000_000
    t.endpoint.ports.add(target_port=80, published_port=8080, publish_mode=PortConfig.HOST)
    t.endpoint.ports.add(target_port=53, protocol=PortConfig.UDP, publish_mode=PortConfig.HOST)
    t.endpoint.ports.add(target_port=443, published_port=443)  # ingress: not a binding
    return t


def test_names_and_labels() -> None:
    t = _task()
    assert container_name(t) == "web.3.t1"
    t.slot = 0
    assert container_name(t) == "web.n1.t1"  # global service
    labels = create_body(_task())["Labels"]
    assert labels == {
        "team": "blue",
        "com.docker.swarm.service.id": "s1",
        "com.docker.swarm.service.name": "web",
        "com.docker.swarm.task.id": "t1",
        "com.docker.swarm.task.name": "web.3.t1",
        "com.docker.swarm.node.id": "n1",
    }


def test_create_body_maps_the_spec_like_docker() -> None:
    body = create_body(_task())
    assert body["Image"] == "busybox:latest"
    assert body["Entrypoint"] == ["/bin/sh", "-c"] and body["Cmd"] == ["sleep 1000"]
    assert body["Env"] == ["A=1"]
    assert (body["User"], body["WorkingDir"], body["Hostname"]) == ("nobody", "/srv", "box")
    assert body["StopSignal"] == "SIGINT" and body["StopTimeout"] == 7
    assert body["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 2_000_000_000,
                                   "Timeout": 1_000_000_000, "Retries": 4}
    hc = body["HostConfig"]
    assert hc["Memory"] == 32 << 20 and hc["NanoCpus"] == 250_000_000
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                  "53/udp": [{"HostIp": "", "HostPort": ""}]}
    assert hc["ExtraHosts"] == ["db:10.0.0.9", "database:10.0.0.9"]
    assert hc["Mounts"] == [{"Type": "tmpfs", "Target": "/tmp", "ReadOnly": False,
                             "TmpfsOptions": {"SizeBytes": 1 << 20}}]


def test_args_alone_keep_the_image_entrypoint() -> None:
    t = Task(id="t2")
    t.spec.container.image = "busybox"
    t.spec.container.args.extend(["echo", "hi"])
    body = create_body(t)
    assert "Entrypoint" not in body and body["Cmd"] == ["echo", "hi"]
    assert "Healthcheck" not in body and body["HostConfig"] == {}


def test_cluster_networks_become_local_endpoints() -> None:
    from shoal.agent.exec.mesh import wanted
    from shoal.agent.exec.networks import aliases, needs_gateway

    t = _task()
    assert "NetworkMode" not in create_body(t)["HostConfig"]  # no networks: default bridge
    att = t.networks.add()
    att.network.id = "n" * 25
    att.aliases.append("www")
    assert aliases(t, att) == ["web", "tasks.web", "www"]
    body = create_body(t, [("demo_default", aliases(t, att), ""), ("back", ["web"], "10.0.9.5")])
    assert body["HostConfig"]["NetworkMode"] == "demo_default"
    assert body["NetworkingConfig"] == {"EndpointsConfig": {
        "demo_default": {"Aliases": ["web", "tasks.web", "www"]},
        "back": {"Aliases": ["web"], "IPAMConfig": {"IPv4Address": "10.0.9.5"}}}}
    assert not needs_gateway(t) and wanted(None) == {}  # not an overlay: no gateway bridge
    assert "443/tcp" not in body["HostConfig"]["PortBindings"]
