"""Docker's ServiceSpec and Service ⇄ specs.ServiceSpec and objects.Service.

A spec without Mode is replicated with one replica, as in dockerd. The
defaults that `GET /services/{id}?insertDefaults=true` shows are SwarmKit's
(defaults.InterpolateService): stop grace period 10 s, restart on any exit
after 5 s, update and rollback one task at a time, pause on failure, monitor
5 s, stop-first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.duration_pb2 import Duration

from shoal.manager.dockerapi.fields import Obj, format_time, ns, put
from shoal.manager.dockerapi.meta import meta_from_json, meta_to_json
from shoal.manager.dockerapi.templates import (
    attachment_from_json,
    attachment_to_json,
    task_spec_from_json,
    task_spec_to_json,
)
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2, types_pb2

UC = types_pb2.UpdateConfig
FAILURE_ACTIONS = {"pause": UC.PAUSE, "continue": UC.CONTINUE, "rollback": UC.ROLLBACK}
ORDERS = {"stop-first": UC.STOP_FIRST, "start-first": UC.START_FIRST}
PC = types_pb2.PortConfig
PROTOCOLS = {"tcp": PC.TCP, "udp": PC.UDP, "sctp": PC.SCTP}
PUBLISH_MODES = {"ingress": PC.INGRESS, "host": PC.HOST}
RESOLUTION_MODES = {"vip": specs_pb2.EndpointSpec.VIP, "dnsrr": specs_pb2.EndpointSpec.DNSRR}
US = objects_pb2.UpdateStatus
UPDATE_STATES = {US.UPDATING: "updating", US.PAUSED: "paused", US.COMPLETED: "completed",
                 US.ROLLBACK_STARTED: "rollback_started", US.ROLLBACK_PAUSED: "rollback_paused",
                 US.ROLLBACK_COMPLETED: "rollback_completed"}


def _names(table: Mapping[str, int]) -> dict[int, str]:
    return {v: k for k, v in table.items()}


def update_config_from_json(o: Obj) -> types_pb2.UpdateConfig:
    u = UC(parallelism=o.uint("Parallelism") or 0,
           failure_action=o.enum("FailureAction", FAILURE_ACTIONS, UC.PAUSE),
           order=o.enum("Order", ORDERS, UC.STOP_FIRST))
    ratio = o.number("MaxFailureRatio")
    if ratio is not None:
        if not 0 <= ratio <= 1:
            raise o.fail("MaxFailureRatio", "must be between 0 and 1")
        u.max_failure_ratio = ratio
    for key, field in (("Delay", "delay"), ("Monitor", "monitor")):
        d = o.duration(key)
        if d is not None:
            getattr(u, field).CopyFrom(d)
    return u


def update_config_to_json(u: types_pb2.UpdateConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"Parallelism": u.parallelism}
    if u.HasField("delay"):
        out["Delay"] = ns(u.delay)
    out["FailureAction"] = _names(FAILURE_ACTIONS)[u.failure_action]
    if u.HasField("monitor"):
        out["Monitor"] = ns(u.monitor)
    # float32 on the wire: print the shortest decimal that reads back the same
    out["MaxFailureRatio"] = float(f"{u.max_failure_ratio:.7g}")
    out["Order"] = _names(ORDERS)[u.order]
    return out


def port_from_json(o: Obj) -> types_pb2.PortConfig:
    p = PC(name=o.text("Name"), protocol=o.enum("Protocol", PROTOCOLS, PC.TCP),
           target_port=o.uint("TargetPort", 65535) or 0,
           published_port=o.uint("PublishedPort", 65535) or 0,
           publish_mode=o.enum("PublishMode", PUBLISH_MODES, PC.INGRESS))
    if not p.target_port:
        raise o.fail("TargetPort", "required (1-65535)")
    return p


def port_to_json(p: types_pb2.PortConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    put(out, "Name", p.name)
    out["Protocol"] = _names(PROTOCOLS)[p.protocol]
    out["TargetPort"] = p.target_port
    put(out, "PublishedPort", p.published_port)
    out["PublishMode"] = _names(PUBLISH_MODES)[p.publish_mode]
    return out


def endpoint_spec_from_json(o: Obj) -> specs_pb2.EndpointSpec:
    return specs_pb2.EndpointSpec(mode=o.enum("Mode", RESOLUTION_MODES, specs_pb2.EndpointSpec.VIP),
                                  ports=[port_from_json(p) for p in o.objs("Ports")])


def endpoint_spec_to_json(e: specs_pb2.EndpointSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"Mode": _names(RESOLUTION_MODES)[e.mode]}
    put(out, "Ports", [port_to_json(p) for p in e.ports])
    return out


def service_spec_from_json(data: Any, path: str = "Spec") -> specs_pb2.ServiceSpec:
    """Return the ServiceSpec of Docker's ServiceSpec DATA (errors name fields under PATH)."""
    o = Obj(data, path)
    spec = specs_pb2.ServiceSpec(annotations=types_pb2.Annotations(
        name=o.text("Name"), labels=o.str_map("Labels")))
    tmpl = o.obj("TaskTemplate")
    if tmpl is None:
        raise o.fail("TaskTemplate", "required")
    spec.task.CopyFrom(task_spec_from_json(tmpl))
    mode = o.obj("Mode") or Obj({}, o.at("Mode"))
    # the Docker SDK spells job modes "replicated-job" and "global-job"
    for key in ("ReplicatedJob", "GlobalJob", "replicated-job", "global-job"):
        if mode.has(key):
            raise mode.fail(key, "jobs are not supported")
    if mode.has("Replicated") and mode.has("Global"):
        raise o.fail("Mode", "set only one of Replicated and Global")
    if mode.has("Global"):
        getattr(spec, "global").SetInParent()
    else:
        rep = mode.obj("Replicated") or Obj({}, mode.at("Replicated"))
        replicas = rep.uint("Replicas")
        spec.replicated.replicas = 1 if replicas is None else replicas
    for key, field in (("UpdateConfig", "update"), ("RollbackConfig", "rollback")):
        sub = o.obj(key)
        if sub is not None:
            getattr(spec, field).CopyFrom(update_config_from_json(sub))
    ep = o.obj("EndpointSpec")
    if ep is not None:
        spec.endpoint.CopyFrom(endpoint_spec_from_json(ep))
    spec.networks.extend(attachment_from_json(n) for n in o.objs("Networks"))
    return spec


def service_spec_to_json(spec: specs_pb2.ServiceSpec) -> dict[str, Any]:
    """Return Docker's ServiceSpec for SPEC."""
    out: dict[str, Any] = {"Name": spec.annotations.name,
                           "Labels": dict(spec.annotations.labels),
                           "TaskTemplate": task_spec_to_json(spec.task)}
    if spec.WhichOneof("mode") == "global":
        out["Mode"] = {"Global": {}}
    else:
        out["Mode"] = {"Replicated": {"Replicas": spec.replicated.replicas}}
    if spec.HasField("update"):
        out["UpdateConfig"] = update_config_to_json(spec.update)
    if spec.HasField("rollback"):
        out["RollbackConfig"] = update_config_to_json(spec.rollback)
    put(out, "Networks", [attachment_to_json(n) for n in spec.networks])
    if spec.HasField("endpoint"):
        out["EndpointSpec"] = endpoint_spec_to_json(spec.endpoint)
    return out


def _seconds(n: int) -> Duration:
    return Duration(seconds=n)


def with_defaults(spec: specs_pb2.ServiceSpec) -> specs_pb2.ServiceSpec:
    """Return a copy of SPEC with SwarmKit's defaults filled in (insertDefaults=true)."""
    s = specs_pb2.ServiceSpec()
    s.CopyFrom(spec)
    c = s.task.container
    if not c.HasField("stop_grace_period"):
        c.stop_grace_period.CopyFrom(_seconds(10))
    c.dns_config.SetInParent()
    s.task.resources.SetInParent()
    s.task.placement.SetInParent()
    if not s.task.HasField("restart"):
        s.task.restart.CopyFrom(types_pb2.RestartPolicy(condition=types_pb2.RestartPolicy.ANY))
    if not s.task.restart.HasField("delay"):
        s.task.restart.delay.CopyFrom(_seconds(5))
    for field in ("update", "rollback"):
        cfg = getattr(s, field)
        if not s.HasField(field):
            cfg.CopyFrom(UC(parallelism=1, failure_action=UC.PAUSE, order=UC.STOP_FIRST))
        if not cfg.HasField("monitor"):
            cfg.monitor.CopyFrom(_seconds(5))
    return s


def keep_current_where_only_defaults_differ(
        new: specs_pb2.ServiceSpec, current: specs_pb2.ServiceSpec) -> specs_pb2.ServiceSpec:
    """Return NEW with each of its task, update and rollback parts that equals CURRENT's
    once the defaults are filled in (with_defaults) replaced by CURRENT's.

    A client that read the service with insertDefaults=true sends the defaults
    back (docker-py's Service.scale and update do): stored as sent, the task
    part would differ from the running tasks' spec and a scale would replace
    every task. Only parts that mean the same are replaced.
    """
    out = specs_pb2.ServiceSpec()
    out.CopyFrom(new)
    filled_new, filled_current = with_defaults(new), with_defaults(current)
    for field in ("task", "update", "rollback"):
        if getattr(filled_new, field) != getattr(filled_current, field):
            continue
        if current.HasField(field):
            getattr(out, field).CopyFrom(getattr(current, field))
        else:
            out.ClearField(field)
    return out


def service_to_json(svc: objects_pb2.Service, insert_defaults: bool = False) -> dict[str, Any]:
    """Return Docker's Service for SVC."""
    spec = with_defaults(svc.spec) if insert_defaults else svc.spec
    out: dict[str, Any] = {"ID": svc.id, **meta_to_json(svc.meta),
                           "Spec": service_spec_to_json(spec)}
    if svc.HasField("previous_spec"):
        prev = with_defaults(svc.previous_spec) if insert_defaults else svc.previous_spec
        out["PreviousSpec"] = service_spec_to_json(prev)
    ep: dict[str, Any] = {"Spec": endpoint_spec_to_json(svc.endpoint.spec)
                          if svc.endpoint.HasField("spec") else {}}
    put(ep, "Ports", [port_to_json(p) for p in svc.endpoint.ports])
    put(ep, "VirtualIPs", [{"NetworkID": v.network_id, "Addr": v.addr}
                           for v in svc.endpoint.virtual_ips])
    out["Endpoint"] = ep
    if svc.HasField("update_status"):
        us = svc.update_status
        status: dict[str, Any] = {"State": UPDATE_STATES.get(us.state, "")}
        if us.HasField("started_at"):
            status["StartedAt"] = format_time(us.started_at)
        if us.HasField("completed_at"):
            status["CompletedAt"] = format_time(us.completed_at)
        status["Message"] = us.message
        out["UpdateStatus"] = status
    return out


def service_from_json(data: Any, path: str = "") -> objects_pb2.Service:
    """Return the Service of Docker's Service DATA (the inverse of service_to_json)."""
    o = Obj(data, path)
    svc = objects_pb2.Service(id=o.text("ID"), meta=meta_from_json(o),
                              spec=service_spec_from_json(o.get("Spec"), o.at("Spec")))
    if o.has("PreviousSpec"):
        svc.previous_spec.CopyFrom(service_spec_from_json(o.get("PreviousSpec"),
                                                          o.at("PreviousSpec")))
    ep = o.obj("Endpoint")
    if ep is not None:
        if ep.has("Spec"):
            svc.endpoint.spec.CopyFrom(endpoint_spec_from_json(ep.obj("Spec") or ep))
        svc.endpoint.ports.extend(port_from_json(p) for p in ep.objs("Ports"))
        for v in ep.objs("VirtualIPs"):
            svc.endpoint.virtual_ips.add(network_id=v.text("NetworkID"), addr=v.text("Addr"))
    us = o.obj("UpdateStatus")
    if us is not None:
        states = {v: k for k, v in UPDATE_STATES.items()}
        svc.update_status.state = states.get(us.text("State"), US.UNKNOWN)
        svc.update_status.message = us.text("Message")
        for key, field in (("StartedAt", "started_at"), ("CompletedAt", "completed_at")):
            ts = us.time(key)
            if ts is not None:
                getattr(svc.update_status, field).CopyFrom(ts)
    return svc


def service_status_json(running: int, desired: int) -> dict[str, int]:
    """Return Docker's ServiceStatus (`GET /services?status=true`)."""
    return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": 0}
