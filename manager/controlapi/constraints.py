"""The syntax of placement constraints and preferences (what the scheduler evaluates).

A constraint is "<key> == <value>" or "<key> != <value>", with the key and
value patterns of SwarmKit (manager/constraint). The keys are those the
scheduler matches (manager/scheduler/constraints.py): node.id, node.hostname,
node.role, node.platform.os, node.platform.arch, node.labels.<label> and
engine.labels.<label> (SwarmKit's node.ip is not supported yet). SwarmKit
silently never matches an unknown key; here it is refused, since such a
service could never be scheduled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shoal.manager.controlapi.errors import InvalidArgument
from shoal.proto.shoal.v1 import types_pb2

_KEY = re.compile(r"^[a-z_][a-z0-9\-_.]+$", re.IGNORECASE)
_VALUE = re.compile(r"^[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+$", re.IGNORECASE)
OPERATORS = ("==", "!=")
NODE_LABEL_PREFIX = "node.labels."
ENGINE_LABEL_PREFIX = "engine.labels."
KEYS = (
    "node.id",
    "node.hostname",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
)
LABEL_PREFIXES = (NODE_LABEL_PREFIX, ENGINE_LABEL_PREFIX)


@dataclass(frozen=True)
class Constraint:
    """One parsed constraint: KEY OPERATOR VALUE."""

    key: str
    operator: str
    value: str


def parse_constraint(expr: str) -> Constraint:
    """Return the parts of EXPR; raise InvalidArgument saying what is wrong."""
    for op in OPERATORS:
        if op not in expr:
            continue
        key, value = (p.strip() for p in expr.split(op, 1))
        if not _KEY.match(key):
            raise InvalidArgument(f"invalid constraint {expr!r}: key '{key}' is invalid")
        if not _VALUE.match(value):
            raise InvalidArgument(f"invalid constraint {expr!r}: value '{value}' is invalid")
        lowered = key.lower()
        if lowered not in KEYS and not any(
            lowered.startswith(p) and len(key) > len(p) for p in LABEL_PREFIXES
        ):
            raise InvalidArgument(
                f"invalid constraint {expr!r}: key '{key}' is not supported "
                f"(use {', '.join(KEYS)}, node.labels.<label> or engine.labels.<label>)"
            )
        if lowered == "node.role" and value.lower() not in ("manager", "worker"):
            raise InvalidArgument(
                f"invalid constraint {expr!r}: node.role is manager or worker, not '{value}'"
            )
        return Constraint(key, op, value)
    raise InvalidArgument(
        f"invalid constraint {expr!r}: constraint expected one operator from {', '.join(OPERATORS)}"
    )


def check_preference(pref: types_pb2.PlacementPreference) -> None:
    """Refuse a placement preference the scheduler cannot apply."""
    if pref.WhichOneof("preference") != "spread":
        raise InvalidArgument("invalid placement preference: only spread is supported")
    desc = pref.spread.spread_descriptor
    if not any(desc.startswith(p) and len(desc) > len(p) for p in LABEL_PREFIXES):
        raise InvalidArgument(
            f"invalid placement preference spread={desc}: spread over "
            "node.labels.<label> or engine.labels.<label>"
        )
