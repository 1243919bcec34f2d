"""The filters of `GET /volumes` and `POST /volumes/prune`, as Docker reads them.

The API's `filters` parameter is JSON in one of Docker's two shapes,
`{"label": ["a=b"]}` or the older `{"label": {"a=b": true}}`; both, a JSON
string of either, or `{"label": "a=b"}` are accepted here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from shoal.engine.volumes.errors import InvalidFilter
from shoal.engine.volumes.model import Volume

Filters = dict[str, list[str]]
LIST_FILTERS = ("dangling", "driver", "label", "name")
PRUNE_FILTERS = ("label", "label!", "all")
_TRUE = ("true", "1")
_FALSE = ("false", "0")


def normalize(filters: Mapping[str, Any] | str | None, allowed: tuple[str, ...]) -> Filters:
    """Return FILTERS as {key: [values]}; raise InvalidFilter for a key not in ALLOWED."""
    if filters is None or filters == "":
        return {}
    if isinstance(filters, str):
        try:
            filters = json.loads(filters)
        except ValueError as exc:
            raise InvalidFilter(f"invalid filters: {filters!r} is not JSON") from exc
    if not isinstance(filters, Mapping):
        raise InvalidFilter(f"invalid filters: {filters!r}")
    out: Filters = {}
    for key, value in filters.items():
        if key not in allowed:
            raise InvalidFilter(f"invalid filter '{key}'")
        if isinstance(value, str):
            values = [value]
        elif isinstance(value, Mapping):
            values = [k for k, on in value.items() if on]
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            values = list(value)
        else:
            raise InvalidFilter(f"invalid filter '{key}': {value!r}")
        out[key] = values
    return out


def _bool(key: str, values: list[str]) -> bool:
    for v in values:
        if v.lower() not in (*_TRUE, *_FALSE):
            raise InvalidFilter(f"invalid filter '{key}={v}'")
    # Docker: any "true" wins over "false" when both are given.
    return any(v.lower() in _TRUE for v in values)


def _label_match(labels: dict[str, str], term: str) -> bool:
    key, sep, value = term.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == value


def _name_match(name: str, term: str) -> bool:
    try:
        return re.search(term, name) is not None
    except re.error:
        return term in name


def list_predicate(filters: Filters) -> Callable[[Volume], bool]:
    """Return the test a volume must pass to be listed."""
    dangling = _bool("dangling", filters["dangling"]) if "dangling" in filters else None
    names = filters.get("name") or []
    drivers = filters.get("driver") or []
    labels = filters.get("label") or []

    def ok(v: Volume) -> bool:
        if dangling is not None and dangling == v.in_use:
            return False
        if names and not any(_name_match(v.name, t) for t in names):
            return False
        if drivers and v.driver not in drivers:
            return False
        return all(_label_match(v.labels, t) for t in labels)

    return ok


def prune_predicate(filters: Filters) -> Callable[[Volume], bool]:
    """Return the test an unused volume must pass to be pruned.

    Like Docker >= 23 (API 1.42): only anonymous volumes, unless `all=true`.
    """
    everything = _bool("all", filters["all"]) if "all" in filters else False
    labels = filters.get("label") or []
    not_labels = filters.get("label!") or []

    def ok(v: Volume) -> bool:
        if v.in_use or (not everything and not v.anonymous):
            return False
        if not all(_label_match(v.labels, t) for t in labels):
            return False
        return not any(_label_match(v.labels, t) for t in not_labels)

    return ok
