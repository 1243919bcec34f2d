"""Merge canonical Compose files: each later file overrides the ones before it.

Mappings merge key by key (so environment, labels, deploy.labels, networks
and nested sections like deploy.resources merge); scalars and lists are
replaced — except ports, merged by (target port, protocol), and volumes,
merged by target path, as docker's loader does.
"""

from __future__ import annotations

from ..portconfig import port_key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import Any


def deep_merge(base: Any, over: Any) -> Any:
    """Return over merged onto base: mappings recursively, anything else replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = deep_merge(base[key], value) if key in base else value
        return out
    return over


def merge_by(base: list[Any], over: list[Any], key: Callable[[Any], Hashable]) -> list[Any]:
    """Return base's items not overridden (same key) by over's, then over's items."""
    replaced = {key(item) for item in over}
    return [item for item in base if key(item) not in replaced] + list(over)


def merge_service(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Return a service overridden by a later file's definition of it."""
    out = dict(base)
    for key, value in over.items():
        if key == "ports" and "ports" in base:
            out[key] = merge_by(base["ports"], value, port_key)
        elif key == "volumes" and "volumes" in base:
            out[key] = merge_by(base["volumes"], value, lambda m: m.get("Target"))
        elif key in base:
            out[key] = deep_merge(base[key], value)
        else:
            out[key] = value
    return out


def merge_files(configs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the files' canonical configs merged in order."""
    merged: dict[str, Any] = {"services": {}, "networks": {}, "volumes": {}}
    for cfg in configs:
        for name, svc in (cfg.get("services") or {}).items():
            have = merged["services"].get(name)
            merged["services"][name] = svc if have is None else merge_service(have, svc)
        for section in ("networks", "volumes"):
            merged[section] = deep_merge(merged[section], cfg.get(section) or {})
    return merged
