"""Docker's Node and NodeSpec ⇄ objects.Node and specs.NodeSpec.

`POST /nodes/{id}/update` sends the whole NodeSpec: Role and Availability are
required, as in dockerd ("invalid Role", "invalid Availability").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoal.manager.dockerapi.fields import Obj, put
from shoal.manager.dockerapi.meta import meta_from_json, meta_to_json
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2, types_pb2

ROLES = {"worker": types_pb2.WORKER, "manager": types_pb2.MANAGER}
AV = specs_pb2.NodeSpec
AVAILABILITIES = {"active": AV.ACTIVE, "pause": AV.PAUSE, "drain": AV.DRAIN}
NS = objects_pb2.NodeStatus
NODE_STATES = {"unknown": NS.UNKNOWN, "down": NS.DOWN, "ready": NS.READY,
               "disconnected": NS.DISCONNECTED}
MS = objects_pb2.ManagerStatus
REACHABILITIES = {"unknown": MS.UNKNOWN, "unreachable": MS.UNREACHABLE,
                  "reachable": MS.REACHABLE}


def _name(table: Mapping[str, int], num: int) -> str:
    for k, v in table.items():
        if v == num:
            return k
    return "unknown"


def node_spec_from_json(data: Any, path: str = "Spec") -> specs_pb2.NodeSpec:
    """Return the NodeSpec of Docker's NodeSpec DATA."""
    o = Obj(data, path)
    return specs_pb2.NodeSpec(
        annotations=types_pb2.Annotations(name=o.text("Name"), labels=o.str_map("Labels")),
        desired_role=o.enum("Role", ROLES), availability=o.enum("Availability", AVAILABILITIES))


def node_spec_to_json(spec: specs_pb2.NodeSpec) -> dict[str, Any]:
    """Return Docker's NodeSpec for SPEC."""
    out: dict[str, Any] = {}
    put(out, "Name", spec.annotations.name)
    out["Labels"] = dict(spec.annotations.labels)
    out["Role"] = _name(ROLES, spec.desired_role)
    out["Availability"] = _name(AVAILABILITIES, spec.availability)
    return out


def description_to_json(d: objects_pb2.NodeDescription) -> dict[str, Any]:
    engine: dict[str, Any] = {"EngineVersion": d.engine.engine_version}
    put(engine, "Labels", dict(d.engine.labels))
    return {"Hostname": d.hostname,
            "Platform": {"Architecture": d.platform.architecture, "OS": d.platform.os},
            "Resources": {"NanoCPUs": d.resources.nano_cpus,
                          "MemoryBytes": d.resources.memory_bytes},
            "Engine": engine}


def description_from_json(o: Obj) -> objects_pb2.NodeDescription:
    d = objects_pb2.NodeDescription(hostname=o.text("Hostname"))
    plat = o.obj("Platform") or Obj({}, "")
    d.platform.CopyFrom(types_pb2.Platform(architecture=plat.text("Architecture"),
                                           os=plat.text("OS")))
    res = o.obj("Resources") or Obj({}, "")
    d.resources.CopyFrom(types_pb2.Resources(nano_cpus=res.integer("NanoCPUs", 0) or 0,
                                             memory_bytes=res.integer("MemoryBytes", 0) or 0))
    eng = o.obj("Engine") or Obj({}, "")
    d.engine.CopyFrom(objects_pb2.EngineDescription(engine_version=eng.text("EngineVersion"),
                                                    labels=eng.str_map("Labels")))
    return d


def node_to_json(node: objects_pb2.Node) -> dict[str, Any]:
    """Return Docker's Node for NODE."""
    status: dict[str, Any] = {"State": _name(NODE_STATES, node.status.state)}
    put(status, "Message", node.status.message)
    put(status, "Addr", node.status.addr)
    out: dict[str, Any] = {"ID": node.id, **meta_to_json(node.meta),
                           "Spec": node_spec_to_json(node.spec),
                           "Description": description_to_json(node.description),
                           "Status": status}
    if node.HasField("manager_status"):
        ms = node.manager_status
        out["ManagerStatus"] = {"Leader": ms.leader,
                                "Reachability": _name(REACHABILITIES, ms.reachability),
                                "Addr": ms.addr}
    return out


def node_from_json(data: Any, path: str = "") -> objects_pb2.Node:
    """Return the Node of Docker's Node DATA (the inverse of node_to_json)."""
    o = Obj(data, path)
    node = objects_pb2.Node(id=o.text("ID"), meta=meta_from_json(o),
                            spec=node_spec_from_json(o.get("Spec"), o.at("Spec")))
    node.role = node.spec.desired_role
    desc = o.obj("Description")
    if desc is not None:
        node.description.CopyFrom(description_from_json(desc))
    st = o.obj("Status") or Obj({}, o.at("Status"))
    node.status.CopyFrom(NS(state=st.enum("State", NODE_STATES, NS.UNKNOWN),
                            message=st.text("Message"), addr=st.text("Addr")))
    ms = o.obj("ManagerStatus")
    if ms is not None:
        node.manager_status.CopyFrom(MS(
            leader=ms.flag("Leader"), addr=ms.text("Addr"),
            reachability=ms.enum("Reachability", REACHABILITIES, MS.UNKNOWN)))
    return node
