"""Docker's `?filters=` for /services, /nodes and /tasks → Control API list requests + a match.

The request carries what the Control API filters without doubt (ID
prefixes, service names, services, nodes, desired states, roles, modes); the
routes then match every filter again on the answer, so a list is right
whatever the server filtered. Values of one key are alternatives (OR); keys
must all match (AND), as in dockerd.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from shoal.engine.errors import InvalidArgument
from shoal.manager.dockerapi.tasks import task_name
from shoal.proto.shoal.v1 import control_pb2, objects_pb2, types_pb2

Filters = dict[str, list[str]]

SERVICE_KEYS = {"id", "name", "label", "mode"}
NODE_KEYS = {"id", "name", "label", "node.label", "role", "membership"}
TASK_KEYS = {"id", "name", "label", "service", "node", "desired-state", "runtime"}
DESIRED_STATES = {"running": types_pb2.RUNNING, "shutdown": types_pb2.SHUTDOWN,
                  "accepted": types_pb2.ACCEPTED}


def parse(raw: str | None, accepted: set[str]) -> Filters:
    """Return Docker's filters JSON ({"k": ["v"]} or {"k": {"v": true}}) as lists of values."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid filters: {raw!r} is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidArgument("invalid filters: expected a JSON object")
    out: Filters = {}
    for key, values in data.items():
        if key not in accepted:
            raise InvalidArgument(f"invalid filter '{key}'")
        if isinstance(values, Mapping):
            values = [k for k, on in values.items() if on]
        elif isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidArgument(f"invalid filter '{key}': values must be strings")
        if values:
            out[key] = values
    return out


def _labels(values: Iterable[str]) -> dict[str, str]:
    out = {}
    for v in values:
        key, _, value = v.partition("=")
        out[key] = value
    return out


def _labels_match(have: Mapping[str, str], want: Iterable[str]) -> bool:
    return all(k in have and (not v or have[k] == v) for k, v in _labels(want).items())


def _prefixed(value: str, prefixes: list[str] | None) -> bool:
    return prefixes is None or any(value.startswith(p) for p in prefixes)


def services_request(f: Filters) -> control_pb2.ListServicesRequest:
    modes = f.get("mode", [])
    for m in modes:
        if m not in ("replicated", "global"):
            raise InvalidArgument(f"Invalid filter: 'mode'='{m}'")
    return control_pb2.ListServicesRequest(
        filters=control_pb2.ListFilters(id_prefixes=f.get("id", []),
                                        name_prefixes=f.get("name", []),
                                        labels=_labels(f.get("label", []))),
        modes=modes)


def match_service(s: objects_pb2.Service, f: Filters) -> bool:
    mode = "global" if s.spec.WhichOneof("mode") == "global" else "replicated"
    return (_prefixed(s.id, f.get("id")) and _prefixed(s.spec.annotations.name, f.get("name"))
            and _labels_match(s.spec.annotations.labels, f.get("label", []))
            and ("mode" not in f or mode in f["mode"]))


ROLES = {"manager": types_pb2.MANAGER, "worker": types_pb2.WORKER}


def nodes_request(f: Filters) -> control_pb2.ListNodesRequest:
    for r in f.get("role", []):
        if r not in ROLES:
            raise InvalidArgument(f"Invalid role filter: '{r}'")
    for m in f.get("membership", []):
        if m not in ("accepted", "pending"):
            raise InvalidArgument(f"Invalid membership filter: '{m}'")
    return control_pb2.ListNodesRequest(
        filters=control_pb2.ListFilters(id_prefixes=f.get("id", [])),
        roles=[ROLES[r] for r in f.get("role", [])])


def match_node(n: objects_pb2.Node, f: Filters) -> bool:
    names = f.get("name")
    name_ok = names is None or any(n.spec.annotations.name.startswith(p)
                                   or n.description.hostname.startswith(p) for p in names)
    role = n.spec.desired_role
    # every node that joined was accepted: shoal has no pending membership
    return (_prefixed(n.id, f.get("id")) and name_ok
            and _labels_match(n.description.engine.labels, f.get("label", []))
            and _labels_match(n.spec.annotations.labels, f.get("node.label", []))
            and ("role" not in f or role in [ROLES[r] for r in f["role"]])
            and ("membership" not in f or "accepted" in f["membership"]))


def desired_states(f: Filters) -> list[types_pb2.TaskState]:
    out = []
    for s in f.get("desired-state", []):
        if s not in DESIRED_STATES:
            raise InvalidArgument(f"Invalid desired-state filter: '{s}'")
        out.append(DESIRED_STATES[s])
    return out


def tasks_request(f: Filters, service_ids: list[str],
                  node_ids: list[str]) -> control_pb2.ListTasksRequest:
    """Return the ListTasks request; SERVICE_IDS and NODE_IDS are the resolved filters."""
    return control_pb2.ListTasksRequest(
        filters=control_pb2.ListFilters(id_prefixes=f.get("id", [])),
        service_ids=service_ids, node_ids=node_ids, desired_states=desired_states(f))


def match_task(t: objects_pb2.Task, f: Filters, service_ids: list[str],
               node_ids: list[str]) -> bool:
    want_labels = f.get("label", [])
    labels_ok = (_labels_match(t.annotations.labels, want_labels)
                 or _labels_match(t.service_annotations.labels, want_labels))
    states = desired_states(f)
    return (_prefixed(t.id, f.get("id")) and _prefixed(task_name(t), f.get("name"))
            and labels_ok
            and ("service" not in f or t.service_id in service_ids)
            and ("node" not in f or t.node_id in node_ids)
            and (not states or t.desired_state in states))
