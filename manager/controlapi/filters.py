"""The filters common to every List call (control.proto ListFilters).

Within one field the values are alternatives (any may match); fields combine
(all must match), as in Docker's filters. Labels match when every key is
present and, for a non-empty value, equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from shoal.proto.shoal.v1 import control_pb2

T = TypeVar("T")


def labels_match(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Return whether LABELS has every key of WANTED (with its value, if non-empty)."""
    return all(k in labels and (not v or labels[k] == v) for k, v in wanted.items())


def matches(
    filters: control_pb2.ListFilters | None,
    obj_id: str,
    names: Iterable[str],
    labels: Mapping[str, str],
) -> bool:
    """Return whether an object with OBJ_ID, NAMES and LABELS passes FILTERS."""
    if filters is None:
        return True
    names = [n for n in names if n]
    if filters.names and not any(n in filters.names for n in names):
        return False
    if filters.name_prefixes and not any(
        n.startswith(p) for n in names for p in filters.name_prefixes
    ):
        return False
    if filters.id_prefixes and not any(obj_id.startswith(p) for p in filters.id_prefixes):
        return False
    return labels_match(labels, filters.labels)


def spec_filter(filters: control_pb2.ListFilters | None) -> Callable[[Any], bool]:
    """Return a predicate for objects named by spec.annotations (services, networks, ...)."""

    def where(obj: Any) -> bool:
        ann = obj.spec.annotations
        return matches(filters, obj.id, [ann.name], ann.labels)

    return where
