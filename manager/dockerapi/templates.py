"""ServiceSpec.TaskTemplate ⇄ specs.TaskSpec: resources, restart policy, placement, networks.

Enum names are Docker's lower-case words ("on-failure", "any"); an absent
RestartPolicy.Condition means "any", as in dockerd.
"""

from __future__ import annotations

from typing import Any

from shoal.manager.dockerapi.containers import (
    container_spec_from_json,
    container_spec_to_json,
    driver_from_json,
    driver_to_json,
)
from shoal.manager.dockerapi.fields import Obj, ns, put
from shoal.proto.shoal.v1 import specs_pb2, types_pb2

RP = types_pb2.RestartPolicy
CONDITIONS = {"none": RP.NONE, "on-failure": RP.ON_FAILURE, "any": RP.ANY}
_CONDITION_NAMES = {v: k for k, v in CONDITIONS.items()}


def resources_from_json(o: Obj) -> types_pb2.Resources:
    return types_pb2.Resources(nano_cpus=o.integer("NanoCPUs", 0) or 0,
                               memory_bytes=o.integer("MemoryBytes", 0) or 0)


def resources_to_json(r: types_pb2.Resources) -> dict[str, Any]:
    out: dict[str, Any] = {}
    put(out, "NanoCPUs", r.nano_cpus)
    put(out, "MemoryBytes", r.memory_bytes)
    return out


def requirements_from_json(o: Obj) -> types_pb2.ResourceRequirements:
    req = types_pb2.ResourceRequirements()
    limits = o.obj("Limits")
    if limits is not None:
        limits.refuse_set("Pids")
        req.limits.CopyFrom(resources_from_json(limits))
    res = o.obj("Reservations")
    if res is not None:
        res.refuse_set("GenericResources")
        req.reservations.CopyFrom(resources_from_json(res))
    return req


def requirements_to_json(r: types_pb2.ResourceRequirements) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.HasField("limits"):
        out["Limits"] = resources_to_json(r.limits)
    if r.HasField("reservations"):
        out["Reservations"] = resources_to_json(r.reservations)
    return out


def restart_from_json(o: Obj) -> types_pb2.RestartPolicy:
    rp = RP(condition=o.enum("Condition", CONDITIONS, RP.ANY),
            max_attempts=o.uint("MaxAttempts") or 0)
    for key, field in (("Delay", "delay"), ("Window", "window")):
        d = o.duration(key)
        if d is not None:
            getattr(rp, field).CopyFrom(d)
    return rp


def restart_to_json(rp: types_pb2.RestartPolicy) -> dict[str, Any]:
    out: dict[str, Any] = {"Condition": _CONDITION_NAMES[rp.condition]}
    if rp.HasField("delay"):
        out["Delay"] = ns(rp.delay)
    out["MaxAttempts"] = rp.max_attempts
    if rp.HasField("window"):
        out["Window"] = ns(rp.window)
    return out


def placement_from_json(o: Obj) -> types_pb2.Placement:
    p = types_pb2.Placement(constraints=o.strs("Constraints"),
                            max_replicas_per_node=o.uint("MaxReplicas") or 0)
    for pref in o.objs("Preferences"):
        spread = pref.obj("Spread")
        if spread is None:
            raise pref.fail("Spread", "required (only Spread preferences are supported)")
        p.preferences.add().spread.spread_descriptor = spread.text("SpreadDescriptor")
    for plat in o.objs("Platforms"):
        p.platforms.add(architecture=plat.text("Architecture"), os=plat.text("OS"))
    return p


def placement_to_json(p: types_pb2.Placement) -> dict[str, Any]:
    out: dict[str, Any] = {}
    put(out, "Constraints", list(p.constraints))
    put(out, "Preferences", [{"Spread": {"SpreadDescriptor": x.spread.spread_descriptor}}
                             for x in p.preferences])
    put(out, "MaxReplicas", p.max_replicas_per_node)
    put(out, "Platforms", [{"Architecture": x.architecture, "OS": x.os} for x in p.platforms])
    return out


def attachment_from_json(o: Obj) -> types_pb2.NetworkAttachmentConfig:
    a = types_pb2.NetworkAttachmentConfig(target=o.text("Target"), aliases=o.strs("Aliases"),
                                          driver_opts=o.str_map("DriverOpts"))
    if not a.target:
        raise o.fail("Target", "required (a network name or ID)")
    return a


def attachment_to_json(a: types_pb2.NetworkAttachmentConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"Target": a.target}
    put(out, "Aliases", list(a.aliases))
    put(out, "DriverOpts", dict(a.driver_opts))
    return out


def task_spec_from_json(o: Obj) -> specs_pb2.TaskSpec:
    """Return the TaskSpec of Docker's ServiceSpec.TaskTemplate O."""
    if o.text("Runtime") not in ("", "container"):
        raise o.fail("Runtime", "only the container runtime is supported")
    o.refuse_set("PluginSpec")
    o.refuse_set("NetworkAttachmentSpec")
    t = specs_pb2.TaskSpec(force_update=o.uint("ForceUpdate") or 0)
    cs = o.obj("ContainerSpec")
    if cs is None:
        raise o.fail("ContainerSpec", "required")
    t.container.CopyFrom(container_spec_from_json(cs))
    if not t.container.image:
        raise cs.fail("Image", "required")
    for key, field, conv in (("Resources", "resources", requirements_from_json),
                             ("RestartPolicy", "restart", restart_from_json),
                             ("Placement", "placement", placement_from_json),
                             ("LogDriver", "log_driver", driver_from_json)):
        sub = o.obj(key)
        if sub is not None:
            getattr(t, field).CopyFrom(conv(sub))
    t.networks.extend(attachment_from_json(n) for n in o.objs("Networks"))
    return t


def task_spec_to_json(t: specs_pb2.TaskSpec) -> dict[str, Any]:
    """Return Docker's TaskTemplate for T."""
    out: dict[str, Any] = {"ContainerSpec": container_spec_to_json(t.container)}
    if t.HasField("resources"):
        out["Resources"] = requirements_to_json(t.resources)
    if t.HasField("restart"):
        out["RestartPolicy"] = restart_to_json(t.restart)
    if t.HasField("placement"):
        out["Placement"] = placement_to_json(t.placement)
    put(out, "Networks", [attachment_to_json(n) for n in t.networks])
    if t.HasField("log_driver"):
        out["LogDriver"] = driver_to_json(t.log_driver)
    out["ForceUpdate"] = t.force_update
    out["Runtime"] = "container"
    return out
