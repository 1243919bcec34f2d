"""Small helpers shared by the cluster commands: filters, references, labels, names.

Filters go to the daemon the way the Engine API documents them, a JSON
``map[string][]string`` (``{"service": ["web"], "desired-state": ["running"]}``).
"""

from __future__ import annotations

import json

from ..errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from ..context import Context

STACK_LABEL = "com.docker.stack.namespace"


def filters_json(filters: Mapping[str, Iterable[str]]) -> str | None:
    """Encode filters as the JSON ``{"key": ["value", ...]}`` (None when empty)."""
    doc = {k: list(v) for k, v in filters.items() if v}
    return json.dumps(doc, separators=(",", ":")) if doc else None


def parse_filters(values: Iterable[str]) -> dict[str, list[str]]:
    """Turn ``-f key=value`` flags into a filters map (keys repeat into lists)."""
    out: dict[str, list[str]] = {}
    for v in values:
        key, eq, val = v.partition("=")
        if not eq:
            raise CLIError(f"bad format of filter (expected name=value)\nSee '{v}'")
        out.setdefault(key.strip().lower(), []).append(val.strip())
    return out


def self_node_id(ctx: Context) -> str:
    """Return this daemon's node id (GET /info), or fail when it is not in a cluster."""
    swarm = (ctx.client.get("/info") or {}).get("Swarm") or {}
    node_id = str(swarm.get("NodeID") or "")
    if not node_id:
        raise CLIError("This node is not a swarm manager. Use \"shoal cluster init\" or "
                       "\"shoal cluster join\" to connect this node to a cluster and try again.")
    return node_id


def node_ref(ctx: Context, ref: str) -> str:
    """Return the node reference to send: ``self`` becomes this node's id."""
    return self_node_id(ctx) if ref == "self" else ref


def get_service(ctx: Context, ref: str, defaults: bool = False) -> dict[str, Any]:
    """Return one service by id, name or id prefix (GET /services/{ref})."""
    params = {"insertDefaults": "true"} if defaults else None
    return ctx.client.get(f"/services/{ref}", params) or {}


def replicas_of(spec: Mapping[str, Any]) -> int | None:
    """Return the wanted replicas of a replicated service spec, None for global."""
    mode = spec.get("Mode") or {}
    if "Global" in mode:
        return None
    return int((mode.get("Replicated") or {}).get("Replicas", 1) or 0)


def mode_name(spec: Mapping[str, Any]) -> str:
    """Return ``replicated``, ``global``, ``replicated-job`` or ``global-job``."""
    mode = spec.get("Mode") or {}
    for key, name in (("Global", "global"), ("ReplicatedJob", "replicated-job"),
                      ("GlobalJob", "global-job")):
        if key in mode:
            return name
    return "replicated"


def apply_labels(labels: dict[str, str], add: Iterable[str], remove: Iterable[str],
                 strict: bool = False) -> dict[str, str]:
    """Return labels with ``k=v`` added and ``k`` removed (``strict``: missing keys fail)."""
    out = dict(labels)
    for key in remove:
        if key not in out and strict:
            raise CLIError(f"key {key} doesn't exist in node's labels")
        out.pop(key, None)
    for kv in add:
        key, _, val = kv.partition("=")
        out[key] = val
    return out


def pretty(value: object) -> str:
    """Capitalise the first letter, as docker's command.PrettyPrint ("running" -> "Running")."""
    text = "None" if value is None else str(value)
    return text[:1].upper() + text[1:]


def strip_digest(image: str) -> str:
    """Drop an ``@sha256:...`` digest from an image reference, for display."""
    return image.split("@", 1)[0]


def each(ctx: Context, names: Iterable[str], op: Any) -> int:
    """Run op on each name; print the names that worked, then the errors (exit 1)."""
    errors = []
    for name in names:
        try:
            op(name)
        except CLIError as exc:
            errors.append(str(exc))
            continue
        ctx.out(name + "\n")
    if errors:
        raise CLIError("\n".join(errors))
    return 0
