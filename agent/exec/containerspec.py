"""A task as a Docker create request: name, labels, config and host config.

Names and labels follow docs/cluster.md (and Docker's swarm executor): the
container is `<service>.<slot>.<task id>` (global: `<service>.<node id>.<task id>`)
and carries the com.docker.swarm.* labels by which a restarted agent finds
it again.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.duration_pb2 import Duration

from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import Mount, PortConfig

LABEL_SERVICE_ID = "com.docker.swarm.service.id"
LABEL_SERVICE_NAME = "com.docker.swarm.service.name"
LABEL_TASK_ID = "com.docker.swarm.task.id"
LABEL_TASK_NAME = "com.docker.swarm.task.name"
LABEL_NODE_ID = "com.docker.swarm.node.id"
# on a local engine network: the cluster network it backs on this host (agent/exec/networks.py)
LABEL_NETWORK_ID = "com.shoal.cluster.network.id"

_PROTOCOLS = {PortConfig.TCP: "tcp", PortConfig.UDP: "udp", PortConfig.SCTP: "sctp"}
_MOUNT_TYPES = {Mount.BIND: "bind", Mount.VOLUME: "volume", Mount.TMPFS: "tmpfs"}


def container_name(task: Task) -> str:
    """Return the task's container name: <service>.<slot or node id>.<task id>."""
    service = task.service_annotations.name or task.service_id or "task"
    middle = str(task.slot) if task.slot else task.node_id
    return f"{service}.{middle}.{task.id}"


def task_labels(task: Task) -> dict[str, str]:
    """Return the container's labels: the spec's, then the swarm ones."""
    labels = dict(task.spec.container.labels)
    labels.update({
        LABEL_SERVICE_ID: task.service_id,
        LABEL_SERVICE_NAME: task.service_annotations.name,
        LABEL_TASK_ID: task.id,
        LABEL_TASK_NAME: task.annotations.name or container_name(task),
        LABEL_NODE_ID: task.node_id,
    })
    return labels


def _nanos(d: Duration) -> int:
    return int(d.seconds) * 1_000_000_000 + int(d.nanos)


def healthcheck(task: Task) -> dict[str, Any] | None:
    """Return Docker's Healthcheck object for the task (None: the image's)."""
    c = task.spec.container
    if not c.HasField("healthcheck"):
        return None
    h = c.healthcheck
    out: dict[str, Any] = {"Test": list(h.test)}
    for key, field in (("Interval", "interval"), ("Timeout", "timeout"),
                       ("StartPeriod", "start_period"), ("StartInterval", "start_interval")):
        if h.HasField(field):
            out[key] = _nanos(getattr(h, field))
    if h.retries:
        out["Retries"] = int(h.retries)
    return out


def port_bindings(task: Task) -> dict[str, list[dict[str, str]]]:
    """Return PortBindings for the task's host-mode published ports."""
    out: dict[str, list[dict[str, str]]] = {}
    for p in task.endpoint.ports:
        if p.publish_mode != PortConfig.HOST or not p.target_port:
            continue
        key = f"{p.target_port}/{_PROTOCOLS.get(p.protocol, 'tcp')}"
        host = str(p.published_port) if p.published_port else ""
        out.setdefault(key, []).append({"HostIp": "", "HostPort": host})
    return out


def mounts(task: Task) -> list[dict[str, Any]]:
    """Return Docker's HostConfig.Mounts for the task's mounts."""
    out = []
    for m in task.spec.container.mounts:
        d: dict[str, Any] = {"Type": _MOUNT_TYPES.get(m.type, "volume"), "Target": m.target,
                             "ReadOnly": m.read_only}
        if m.source:
            d["Source"] = m.source
        if m.type == Mount.VOLUME and (m.volume_labels or m.volume_driver.name):
            vo: dict[str, Any] = {"Labels": dict(m.volume_labels)}
            if m.volume_driver.name:
                vo["DriverConfig"] = {"Name": m.volume_driver.name,
                                      "Options": dict(m.volume_driver.options)}
            d["VolumeOptions"] = vo
        if m.type == Mount.TMPFS and (m.tmpfs_size_bytes or m.tmpfs_mode):
            d["TmpfsOptions"] = {k: v for k, v in (("SizeBytes", m.tmpfs_size_bytes),
                                                   ("Mode", m.tmpfs_mode)) if v}
        out.append(d)
    return out


def networking(networks: list[tuple[str, list[str], str]]) -> dict[str, Any]:
    """Return NetworkingConfig for local NETWORKS [(name, aliases, ipv4 or "")]."""
    eps: dict[str, Any] = {}
    for name, aliases, ip in networks:
        ep: dict[str, Any] = {"Aliases": list(aliases)}
        if ip:
            ep["IPAMConfig"] = {"IPv4Address": ip}
        eps[name] = ep
    return {"EndpointsConfig": eps}


def create_body(task: Task,
                networks: list[tuple[str, list[str], str]] | None = None) -> dict[str, Any]:
    """Return the Docker create request (Config + HostConfig) that runs TASK.

    NETWORKS are the local networks backing the task's cluster networks
    [(name, aliases, ipv4 or "")], the first one primary (agent/exec/networks.py);
    without them the container joins the default bridge.
    """
    c = task.spec.container
    body: dict[str, Any] = {
        "Image": c.image,
        "Env": list(c.env),
        "Labels": task_labels(task),
        "Tty": c.tty,
        "OpenStdin": c.open_stdin,
    }
    # Docker's swarm executor: command replaces the entrypoint, args the cmd
    if c.command:
        body["Entrypoint"] = list(c.command)
        body["Cmd"] = list(c.args)
    elif c.args:
        body["Cmd"] = list(c.args)
    for key, value in (("User", c.user), ("WorkingDir", c.dir), ("Hostname", c.hostname),
                       ("StopSignal", c.stop_signal)):
        if value:
            body[key] = value
    if c.HasField("stop_grace_period"):
        body["StopTimeout"] = int(c.stop_grace_period.seconds)
    hc_check = healthcheck(task)
    if hc_check is not None:
        body["Healthcheck"] = hc_check
    limits = task.spec.resources.limits
    hc: dict[str, Any] = {}
    if limits.memory_bytes:
        hc["Memory"] = int(limits.memory_bytes)
    if limits.nano_cpus:
        hc["NanoCpus"] = int(limits.nano_cpus)
    bindings = port_bindings(task)
    if bindings:
        hc["PortBindings"] = bindings
        body["ExposedPorts"] = {k: {} for k in bindings}
    mnts = mounts(task)
    if mnts:
        hc["Mounts"] = mnts
    if c.read_only:
        hc["ReadonlyRootfs"] = True
    if c.capability_add:
        hc["CapAdd"] = list(c.capability_add)
    if c.capability_drop:
        hc["CapDrop"] = list(c.capability_drop)
    if c.groups:
        hc["GroupAdd"] = list(c.groups)
    if c.sysctls:
        hc["Sysctls"] = dict(c.sysctls)
    if c.HasField("init"):
        hc["Init"] = c.init
    if c.hosts:  # "IP host [alias...]" -> Docker's "host:IP" for each name
        hc["ExtraHosts"] = [f"{name}:{line.split()[0]}" for line in c.hosts
                            for name in line.split()[1:]]
    if networks:
        hc["NetworkMode"] = networks[0][0]
        body["NetworkingConfig"] = networking(networks)
    dns = c.dns_config
    if dns.nameservers:
        hc["Dns"] = list(dns.nameservers)
    if dns.search:
        hc["DnsSearch"] = list(dns.search)
    if dns.options:
        hc["DnsOptions"] = list(dns.options)
    body["HostConfig"] = hc
    return body
