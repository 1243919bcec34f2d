"""Placement constraints ("node.labels.zone==east") and platforms, matched against nodes.

Keys (case-insensitive, as in Docker): `node.id`, `node.hostname`,
`node.role` (manager|worker), `node.platform.os`, `node.platform.arch`,
`node.labels.<label>` (labels set on the node by the user) and
`engine.labels.<label>` (labels the engine reports); label names are
case-sensitive. Operators `==` and `!=`; values compare case-insensitively.
A missing label reads as "" (so `node.labels.x!=y` matches a node without
it); an unknown key matches no node. The same attribute paths serve as
spread descriptors for placement preferences.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shoal.manager.scheduler.errors import InvalidConstraint
from shoal.proto.shoal.v1.types_pb2 import NodeRole

_EXPR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(==|!=)\s*(.*?)\s*$")
_NODE_LABELS = "node.labels."
_ENGINE_LABELS = "engine.labels."
_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True)
class Constraint:
    key: str
    equal: bool  # == (True) or != (False)
    value: str

    def __str__(self) -> str:
        return f"{self.key}{'==' if self.equal else '!='}{self.value}"


def parse_constraint(expr: str) -> Constraint:
    """Return the Constraint written as EXPR; raise InvalidConstraint."""
    m = _EXPR.match(expr)
    if m is None or not m.group(3):
        raise InvalidConstraint(f"invalid constraint {expr!r}: expected KEY==VALUE or KEY!=VALUE")
    key, op, value = m.groups()
    if node_attribute_path(key) is None:
        raise InvalidConstraint(f"invalid constraint {expr!r}: unknown key {key!r}")
    return Constraint(key, op == "==", value)


def parse_constraints(exprs: Iterable[str], *, strict: bool = True) -> list[Constraint] | None:
    """Return the Constraints of EXPRS; if one is invalid, raise (STRICT) or return None."""
    try:
        return [parse_constraint(e) for e in exprs]
    except InvalidConstraint:
        if strict:
            raise
        return None


def node_attribute_path(key: str) -> tuple[str, str] | None:
    """Return (attribute, label) for KEY, or None if KEY names nothing known."""
    low = key.lower()
    if low in ("node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch"):
        return low, ""
    for prefix in (_NODE_LABELS, _ENGINE_LABELS):
        if low.startswith(prefix) and len(key) > len(prefix):
            return prefix, key[len(prefix) :]
    return None


def node_attribute(node: Any, key: str) -> str | None:
    """Return NODE's value for KEY ("" for a missing label), None if KEY is unknown."""
    path = node_attribute_path(key)
    if path is None:
        return None
    attr, label = path
    if attr == "node.id":
        return str(node.id)
    if attr == "node.hostname":
        return str(node.description.hostname)
    if attr == "node.role":
        return "manager" if int(node.role) == NodeRole.MANAGER else "worker"
    if attr == "node.platform.os":
        return str(node.description.platform.os)
    if attr == "node.platform.arch":
        return str(node.description.platform.architecture)
    if attr == _NODE_LABELS:
        return str(node.spec.annotations.labels.get(label, ""))
    return str(node.description.engine.labels.get(label, ""))


def node_matches(constraints: Sequence[Constraint], node: Any) -> bool:
    """Return whether NODE satisfies every constraint."""
    for c in constraints:
        value = node_attribute(node, c.key)
        if value is None:
            return False
        if (value.lower() == c.value.lower()) != c.equal:
            return False
    return True


def _arch(arch: str) -> str:
    arch = arch.lower()
    return _ARCH_ALIASES.get(arch, arch)


def platform_matches(platforms: Sequence[Any], node: Any) -> bool:
    """Return whether NODE's platform is one of PLATFORMS (empty fields match any)."""
    os_ = str(node.description.platform.os).lower()
    arch = _arch(str(node.description.platform.architecture))
    for p in platforms:
        os_ok = not p.os or p.os.lower() == os_
        if os_ok and (not p.architecture or _arch(p.architecture) == arch):
            return True
    return False
