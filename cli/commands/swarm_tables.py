"""The service and task tables: `service ls`, `service ps`, `node ps`, `stack services|ps`.

Columns and cell formats are docker's (cli/command/service/formatter.go,
cli/command/task/formatter.go): REPLICAS ``running/desired``, task names
``service.slot`` (``service.node`` for global tasks) with older tasks of the
same slot under their successor as `` \\_ service.slot``, CURRENT STATE
``Running 5 seconds ago``, errors quoted and cut at 30 characters.
"""

from __future__ import annotations

import time

from ..formatting import ellipsis, human_duration, natural_key, parse_rfc3339, short_id, table
from ..portconfig import format_ports
from .swarm_api import filters_json, mode_name, pretty, replicas_of, strip_digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ..context import Context

SERVICE_HEADERS = {"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS",
                   "Image": "IMAGE", "Ports": "PORTS"}
TASK_HEADERS = {"ID": "ID", "Name": "NAME", "Image": "IMAGE", "Node": "NODE",
                "DesiredState": "DESIRED STATE", "CurrentState": "CURRENT STATE",
                "Error": "ERROR", "Ports": "PORTS"}
MAX_ERR = 30


# -- services -------------------------------------------------------------------

def list_services(ctx: Context, filters: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """Return the services matching filters, with ServiceStatus (GET /services?status=true)."""
    params = {"filters": filters_json(filters), "status": "true"}
    return list(ctx.client.get("/services", params) or [])


def _fill_status(ctx: Context, services: list[dict[str, Any]]) -> None:
    """Count running/desired tasks for services the daemon sent no ServiceStatus for."""
    missing = [s for s in services if not s.get("ServiceStatus")]
    if not missing:
        return
    tasks = ctx.client.get("/tasks", {"filters": filters_json({
        "service": [s["ID"] for s in missing], "desired-state": ["running"]})}) or []
    for s in missing:
        own = [t for t in tasks if t.get("ServiceID") == s["ID"]]
        running = sum(1 for t in own if (t.get("Status") or {}).get("State") == "running")
        desired = replicas_of(s.get("Spec") or {})
        if desired is None:
            desired = len({t.get("NodeID") for t in own})
        s["ServiceStatus"] = {"RunningTasks": running, "DesiredTasks": desired}


def service_rows(ctx: Context, services: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Return the `service ls` rows (sorted by name)."""
    _fill_status(ctx, services)
    rows = []
    for s in sorted(services, key=lambda s: natural_key((s.get("Spec") or {}).get("Name", ""))):
        spec = s.get("Spec") or {}
        status = s.get("ServiceStatus") or {}
        replicas = f"{status.get('RunningTasks', 0)}/{status.get('DesiredTasks', 0)}"
        max_per_node = ((spec.get("TaskTemplate") or {}).get("Placement") or {}).get(
            "MaxReplicas")
        if max_per_node and mode_name(spec) == "replicated":
            replicas += f" (max {max_per_node} per node)"
        ports = (s.get("Endpoint") or {}).get("Ports")
        if ports is None:
            ports = (spec.get("EndpointSpec") or {}).get("Ports") or []
        ingress = [p for p in ports if (p.get("PublishMode") or "ingress") == "ingress"]
        image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")
        rows.append({"ID": short_id(s.get("ID", "")), "Name": spec.get("Name", ""),
                     "Mode": mode_name(spec), "Replicas": replicas,
                     "Image": strip_digest(image), "Ports": format_ports(ingress)})
    return rows


def print_services(ctx: Context, services: list[dict[str, Any]], quiet: bool = False,
                   fmt: str = "") -> None:
    """Print services as `service ls` does."""
    if quiet:
        ctx.out("".join(s["ID"] + "\n" for s in services))
        return
    rows = service_rows(ctx, services)
    if fmt:
        from ..template import render_table

        ctx.out(render_table(fmt, rows, SERVICE_HEADERS))
        return
    cols = ["ID", "Name", "Mode", "Replicas", "Image", "Ports"]
    ctx.out(table([SERVICE_HEADERS[c] for c in cols], [[r[c] for c in cols] for r in rows]))


# -- tasks ----------------------------------------------------------------------

def task_name(task: Mapping[str, Any], service_name: str) -> str:
    """Return ``service.slot`` (or ``service.node`` for a global task)."""
    slot = task.get("Slot") or 0
    return f"{service_name}.{slot}" if slot else f"{service_name}.{task.get('NodeID', '')}"


def current_state(status: Mapping[str, Any], now: float | None = None) -> str:
    """Return ``Running 5 seconds ago`` from a task's Status."""
    now = time.time() if now is None else now
    ts = parse_rfc3339(str(status.get("Timestamp") or ""))
    ago = human_duration(now - ts).lower() if ts is not None else "less than a second"
    return f"{pretty(status.get('State', ''))} {ago} ago"


def task_error(err: str, trunc: bool = True) -> str:
    """Return the ERROR cell: quoted, cut to 30 characters when trunc."""
    if not err:
        return ""
    if trunc:
        err = ellipsis(err, MAX_ERR)
    return f'"{err}"'


def error_of(status: Mapping[str, Any]) -> str:
    """Return why a task ended: its Err, else for an orphaned task the manager's message.

    Docker leaves ERROR empty for a task of a down node; shoal shows why
    ("node ... is down"), written as its status message by the orchestrator.
    """
    err = str(status.get("Err") or "")
    if not err and status.get("State") == "orphaned":
        return str(status.get("Message") or "")
    return err


def _created(task: Mapping[str, Any]) -> float:
    return parse_rfc3339(str(task.get("CreatedAt") or "")) or 0.0


def task_rows(tasks: list[dict[str, Any]], service_names: Mapping[str, str],
              node_names: Mapping[str, str], trunc: bool = True,
              now: float | None = None) -> list[dict[str, str]]:
    """Return task rows sorted by name then newest first, older ones indented."""
    named = [(task_name(t, service_names.get(t.get("ServiceID", ""), t.get("ServiceID", ""))), t)
             for t in tasks]
    named.sort(key=lambda nt: _created(nt[1]), reverse=True)
    named.sort(key=lambda nt: natural_key(nt[0]))
    rows, prev = [], None
    for name, t in named:
        status = t.get("Status") or {}
        image = ((t.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", "")
        ports = (status.get("PortStatus") or {}).get("Ports") or []
        rows.append({
            "ID": short_id(t.get("ID", ""), trunc),
            "Name": f" \\_ {name}" if name == prev else name,
            "Image": strip_digest(image) if trunc else image,
            "Node": node_names.get(t.get("NodeID", ""), t.get("NodeID", "")),
            "DesiredState": pretty(t.get("DesiredState", "")),
            "CurrentState": current_state(status, now),
            "Error": task_error(error_of(status), trunc),
            "Ports": format_ports(ports).replace(", ", ","),
        })
        prev = name
    return rows


def service_names(ctx: Context, tasks: list[dict[str, Any]],
                  known: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """Map the tasks' service ids to names (from known services, else GET /services)."""
    names = {s["ID"]: (s.get("Spec") or {}).get("Name", "") for s in known or ()}
    ids = {t.get("ServiceID", "") for t in tasks} - set(names) - {""}
    if ids:
        found = ctx.client.get("/services", {"filters": filters_json({"id": sorted(ids)})})
        for s in found or []:
            names[s["ID"]] = (s.get("Spec") or {}).get("Name", "")
    return names


def node_names(ctx: Context, tasks: list[dict[str, Any]]) -> dict[str, str]:
    """Map the tasks' node ids to hostnames (GET /nodes once, when any task has a node)."""
    if not any(t.get("NodeID") for t in tasks):
        return {}
    return {n["ID"]: ((n.get("Description") or {}).get("Hostname") or n["ID"])
            for n in ctx.client.get("/nodes") or []}


def print_tasks(ctx: Context, tasks: list[dict[str, Any]], *, trunc: bool = True,
                quiet: bool = False, fmt: str = "", resolve: bool = True,
                services: list[dict[str, Any]] | None = None) -> None:
    """Print tasks as `service ps` does (ids resolved to names unless resolve is False)."""
    if quiet:
        ctx.out("".join(short_id(t["ID"], trunc) + "\n" for t in tasks))
        return
    if resolve:
        rows = task_rows(tasks, service_names(ctx, tasks, services), node_names(ctx, tasks),
                         trunc)
    else:
        rows = task_rows(tasks, {}, {}, trunc)
    if fmt:
        from ..template import render_table

        ctx.out(render_table(fmt, rows, TASK_HEADERS))
        return
    cols = list(TASK_HEADERS)
    ctx.out(table([TASK_HEADERS[c] for c in cols], [[r[c] for c in cols] for r in rows]))


def list_tasks(ctx: Context, filters: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """Return the tasks matching filters (GET /tasks?filters=...)."""
    return list(ctx.client.get("/tasks", {"filters": filters_json(filters)}) or [])
