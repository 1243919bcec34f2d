"""Node commands: ls, inspect, ps, update, promote, demote, rm.

    ls        GET /nodes?filters=..., GET /info (to star this node)
    inspect   GET /nodes/{id} for each (``self`` is this node, from GET /info)
    ps        GET /nodes/{id}, GET /tasks?filters={"node":[id]}, names via GET /services, /nodes
    update    GET /nodes/{id}, POST /nodes/{id}/update?version=V with the modified spec
    promote   the same with Spec.Role "manager" (demote: "worker")
    rm        DELETE /nodes/{id}[?force=1]
"""

from __future__ import annotations

from ..errors import CLIError
from ..flags import Command, Flag
from ..formatting import natural_key, table
from . import parse
from .swarm_api import apply_labels, each, node_ref, parse_filters, pretty

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..context import Context

NODE_HEADERS = {"ID": "ID", "Hostname": "HOSTNAME", "Status": "STATUS",
                "Availability": "AVAILABILITY", "ManagerStatus": "MANAGER STATUS",
                "EngineVersion": "ENGINE VERSION", "Self": "SELF"}

LS = Command("{prog} [OPTIONS]", "List nodes in the cluster", [
    Flag("filter", "f", "list", "Filter output based on conditions provided", metavar="filter"),
    Flag("format", "", "string", "Format output using a custom template"),
    Flag("quiet", "q", "bool", "Only display IDs"),
], max_args=0)


def manager_status(node: dict[str, Any]) -> str:
    """Return the MANAGER STATUS cell: Leader, Reachable, Unreachable or empty (worker)."""
    status = node.get("ManagerStatus")
    if not status:
        return ""
    if status.get("Leader"):
        return "Leader"
    return pretty(status.get("Reachability", ""))


def node_row(node: dict[str, Any], self_id: str) -> dict[str, str]:
    """Return one `node ls` row."""
    desc = node.get("Description") or {}
    spec = node.get("Spec") or {}
    is_self = node.get("ID") == self_id
    return {"ID": node.get("ID", "") + (" *" if is_self else ""),
            "Hostname": desc.get("Hostname", ""),
            "Status": pretty((node.get("Status") or {}).get("State", "")),
            "Availability": pretty(spec.get("Availability", "")),
            "ManagerStatus": manager_status(node),
            "EngineVersion": (desc.get("Engine") or {}).get("EngineVersion", ""),
            "Self": "true" if is_self else "false"}


def ls(ctx: Context, argv: list[str]) -> int:
    """List nodes: ID (``*`` marks this node), HOSTNAME, STATUS, AVAILABILITY, ..."""
    parsed = parse(LS, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    from .swarm_api import filters_json

    client = ctx.client
    nodes = client.get("/nodes", {"filters": filters_json(parse_filters(opts.filter))}) or []
    nodes.sort(key=lambda n: natural_key((n.get("Description") or {}).get("Hostname", "")))
    if opts.quiet:
        ctx.out("".join(n["ID"] + "\n" for n in nodes))
        return 0
    self_id = str(((client.get("/info") or {}).get("Swarm") or {}).get("NodeID") or "")
    rows = [node_row(n, self_id) for n in nodes]
    if opts.format:
        from ..template import render_table

        ctx.out(render_table(opts.format, rows, NODE_HEADERS))
        return 0
    cols = ["ID", "Hostname", "Status", "Availability", "ManagerStatus", "EngineVersion"]
    ctx.out(table([NODE_HEADERS[c] for c in cols], [[r[c] for c in cols] for r in rows]))
    return 0


INSPECT = Command("{prog} [OPTIONS] self|NODE [NODE...]",
                  "Display detailed information on one or more nodes", [
    Flag("format", "f", "string", "Format output using a custom template"),
    Flag("pretty", "", "bool", "Print the information in a human friendly format"),
], min_args=1)


def inspect(ctx: Context, argv: list[str]) -> int:
    """Print nodes as JSON, through a template, or (--pretty) for people."""
    parsed = parse(INSPECT, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    if opts.pretty and opts.format:
        raise CLIError("--format is incompatible with human friendly format")
    docs, errors = [], []
    for name in names:
        try:
            docs.append(ctx.client.get(f"/nodes/{node_ref(ctx, name)}"))
        except CLIError as exc:
            errors.append(str(exc))
    if opts.pretty:
        from .swarm_pretty import pretty_node

        ctx.out("\n\n".join(pretty_node(d) for d in docs) + ("\n" if docs else ""))
    else:
        from .containers import print_inspect

        print_inspect(ctx, docs, opts.format)
    if errors:
        raise CLIError("\n".join(errors))
    return 0


PS = Command("{prog} [OPTIONS] [NODE...]",
             "List tasks running on one or more nodes, defaults to current node", [
    Flag("filter", "f", "list", "Filter output based on conditions provided", metavar="filter"),
    Flag("format", "", "string", "Pretty-print tasks using a Go template"),
    Flag("no-resolve", "", "bool", "Do not map IDs to Names"),
    Flag("no-trunc", "", "bool", "Do not truncate output"),
    Flag("quiet", "q", "bool", "Only display task IDs"),
])


def ps(ctx: Context, argv: list[str]) -> int:
    """List the tasks of nodes (this node by default)."""
    from .swarm_tables import list_tasks, print_tasks

    parsed = parse(PS, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    filters = parse_filters(opts.filter)
    tasks: list[dict[str, Any]] = []
    errors = []
    for name in names or ["self"]:
        try:
            node = ctx.client.get(f"/nodes/{node_ref(ctx, name)}") or {}
        except CLIError as exc:
            errors.append(str(exc))
            continue
        tasks += list_tasks(ctx, {**filters, "node": [node["ID"]]})
    if tasks or not errors:
        print_tasks(ctx, tasks, trunc=not opts.no_trunc, quiet=opts.quiet, fmt=opts.format,
                    resolve=not opts.no_resolve)
    if errors:
        raise CLIError("\n".join(errors))
    return 0


def _availability(value: str) -> str:
    if value.lower() not in ("active", "pause", "drain"):
        raise ValueError(f"invalid availability {value!r}: active, pause or drain")
    return value.lower()


def _role(value: str) -> str:
    if value.lower() not in ("worker", "manager"):
        raise ValueError(f"invalid role {value!r}: worker or manager")
    return value.lower()


UPDATE = Command("{prog} [OPTIONS] NODE", "Update a node", [
    Flag("availability", "", "string", 'Availability of the node ("active", "pause", "drain")',
         conv=_availability),
    Flag("label-add", "", "list", "Add or update a node label (key=value)"),
    Flag("label-rm", "", "list", "Remove a node label if exists"),
    Flag("role", "", "string", 'Role of the node ("worker", "manager")', conv=_role),
], min_args=1, max_args=1)


def _update_node(ctx: Context, ref: str, change: Any) -> bool:
    """GET the node, let change(spec) edit it; POST it back unless change returned False."""
    client = ctx.client
    node = client.get(f"/nodes/{node_ref(ctx, ref)}") or {}
    spec = dict(node.get("Spec") or {})
    if change(spec) is False:
        return False
    version = (node.get("Version") or {}).get("Index", 0)
    client.request("POST", f"/nodes/{node['ID']}/update", {"version": str(version)},
                   body=spec).read()
    return True


def update(ctx: Context, argv: list[str]) -> int:
    """Change a node's availability, labels or role; print its name."""
    parsed = parse(UPDATE, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed

    def change(spec: dict[str, Any]) -> None:
        if "availability" in opts.changed:
            spec["Availability"] = opts.availability
        if "role" in opts.changed:
            spec["Role"] = opts.role
        if opts.label_add or opts.label_rm:
            spec["Labels"] = apply_labels(spec.get("Labels") or {}, opts.label_add,
                                          opts.label_rm, strict=True)

    _update_node(ctx, args[0], change)
    ctx.out(args[0] + "\n")
    return 0


PROMOTE = Command("{prog} NODE [NODE...]", "Promote one or more nodes to manager in the cluster",
                  min_args=1)
DEMOTE = Command("{prog} NODE [NODE...]", "Demote one or more nodes from manager in the cluster",
                 min_args=1)


def _set_role(ctx: Context, argv: list[str], spec_cmd: Command, role: str) -> int:
    parsed = parse(spec_cmd, ctx, argv)
    if parsed is None:
        return 0
    errors = []
    for name in parsed[1]:
        def change(spec: dict[str, Any]) -> bool:
            if spec.get("Role") == role:
                return False
            spec["Role"] = role
            return True

        try:
            changed = _update_node(ctx, name, change)
        except CLIError as exc:
            errors.append(str(exc))
            continue
        if role == "manager":
            ctx.out(f"Node {name} promoted to a manager in the cluster.\n" if changed
                    else f"Node {name} is already a manager.\n")
        else:
            ctx.out(f"Manager {name} demoted in the cluster.\n" if changed
                    else f"Node {name} is already a worker.\n")
    if errors:
        raise CLIError("\n".join(errors))
    return 0


def promote(ctx: Context, argv: list[str]) -> int:
    """Make nodes managers (Spec.Role = manager)."""
    return _set_role(ctx, argv, PROMOTE, "manager")


def demote(ctx: Context, argv: list[str]) -> int:
    """Make managers workers (Spec.Role = worker)."""
    return _set_role(ctx, argv, DEMOTE, "worker")


RM = Command("{prog} [OPTIONS] NODE [NODE...]", "Remove one or more nodes from the cluster", [
    Flag("force", "f", "bool", "Force remove a node from the cluster"),
], min_args=1)


def rm(ctx: Context, argv: list[str]) -> int:
    """Remove nodes: DELETE /nodes/{id}[?force=1]; print each name removed."""
    parsed = parse(RM, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    params = {"force": "1" if opts.force else None}
    return each(ctx, names, lambda n: ctx.client.request(
        "DELETE", f"/nodes/{node_ref(ctx, n)}", params).read())
