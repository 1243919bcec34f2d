"""Docker's Task ⇄ objects.Task; task states are the lower-case enum names ("running")."""

from __future__ import annotations

from typing import Any, cast

from shoal.manager.dockerapi.fields import Obj, format_time, put
from shoal.manager.dockerapi.meta import meta_from_json, meta_to_json
from shoal.manager.dockerapi.networks import network_from_swarm_json, network_to_swarm_json
from shoal.manager.dockerapi.services import port_from_json, port_to_json
from shoal.manager.dockerapi.templates import task_spec_from_json, task_spec_to_json
from shoal.proto.shoal.v1 import objects_pb2, types_pb2

_STATE_NAMES: dict[int, str] = {num: name.lower() for name, num in types_pb2.TaskState.items()}
TASK_STATES = {name: cast(types_pb2.TaskState, num) for num, name in _STATE_NAMES.items()}


def state_name(state: int) -> str:
    """Return Docker's name of a TaskState ("running")."""
    return _STATE_NAMES.get(state, "unknown")


def task_name(t: objects_pb2.Task) -> str:
    """Return the task's name: "<service>.<slot>.<task id>" (global: "<service>.<node id>.<id>")."""
    if t.annotations.name:
        return t.annotations.name
    where = str(t.slot) if t.slot else t.node_id
    return f"{t.service_annotations.name}.{where}.{t.id}"


def status_to_json(st: types_pb2.TaskStatus) -> dict[str, Any]:
    out: dict[str, Any] = {"Timestamp": format_time(st.timestamp),
                           "State": state_name(st.state), "Message": st.message}
    put(out, "Err", st.err)
    if st.HasField("container_status"):
        cs = st.container_status
        out["ContainerStatus"] = {"ContainerID": cs.container_id, "PID": cs.pid,
                                  "ExitCode": cs.exit_code}
    ports: dict[str, Any] = {}
    put(ports, "Ports", [port_to_json(p) for p in st.port_status.ports])
    out["PortStatus"] = ports
    return out


def status_from_json(o: Obj) -> types_pb2.TaskStatus:
    st = types_pb2.TaskStatus(state=o.enum("State", TASK_STATES, types_pb2.NEW),
                              message=o.text("Message"), err=o.text("Err"))
    ts = o.time("Timestamp")
    if ts is not None and o.text("Timestamp") != format_time(None):
        st.timestamp.CopyFrom(ts)
    cs = o.obj("ContainerStatus")
    if cs is not None:
        st.container_status.CopyFrom(types_pb2.ContainerStatus(
            container_id=cs.text("ContainerID"), pid=cs.integer("PID", -(2**31), 2**31 - 1) or 0,
            exit_code=cs.integer("ExitCode", -(2**31), 2**31 - 1) or 0))
    ps = o.obj("PortStatus")
    if ps is not None:
        st.port_status.ports.extend(port_from_json(p) for p in ps.objs("Ports"))
    return st


def task_to_json(t: objects_pb2.Task) -> dict[str, Any]:
    """Return Docker's Task for T."""
    out: dict[str, Any] = {"ID": t.id, **meta_to_json(t.meta)}
    put(out, "Name", t.annotations.name)
    out["Labels"] = dict(t.annotations.labels)
    out["Spec"] = task_spec_to_json(t.spec)
    out["ServiceID"] = t.service_id
    put(out, "Slot", t.slot)
    put(out, "NodeID", t.node_id)
    out["Status"] = status_to_json(t.status)
    out["DesiredState"] = state_name(t.desired_state)
    put(out, "NetworksAttachments", [
        {"Network": network_to_swarm_json(a.network), "Addresses": list(a.addresses)}
        for a in t.networks
    ])
    return out


def task_from_json(data: Any, path: str = "") -> objects_pb2.Task:
    """Return the Task of Docker's Task DATA (the inverse of task_to_json)."""
    o = Obj(data, path)
    t = objects_pb2.Task(
        id=o.text("ID"), meta=meta_from_json(o), service_id=o.text("ServiceID"),
        slot=o.uint("Slot") or 0, node_id=o.text("NodeID"),
        annotations=types_pb2.Annotations(name=o.text("Name"), labels=o.str_map("Labels")),
        desired_state=o.enum("DesiredState", TASK_STATES, types_pb2.NEW),
    )
    spec = o.obj("Spec")
    if spec is not None:
        t.spec.CopyFrom(task_spec_from_json(spec))
    status = o.obj("Status")
    if status is not None:
        t.status.CopyFrom(status_from_json(status))
    for a in o.objs("NetworksAttachments"):
        att = t.networks.add(addresses=a.strs("Addresses"))
        if a.has("Network"):
            att.network.CopyFrom(network_from_swarm_json(a.get("Network"), a.at("Network")))
    return t
