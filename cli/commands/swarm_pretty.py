"""`--pretty` output of `node inspect` and `service inspect`, laid out as docker's."""

from __future__ import annotations

from ..durations import format_duration
from .swarm_api import mode_name, pretty

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _bytes(n: int) -> str:
    """Return a binary size as docker's units.BytesSize: "7.704GiB"."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    size, i = float(n), 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{units[i]}"


def _cpus(nano: int) -> str:
    return f"{nano / 1e9:g}"


def _kv(lines: list[str], label: str, value: object, indent: str = " ") -> None:
    if value not in (None, "", [], {}):
        lines.append(f"{indent}{label}:".ljust(20) + f"{value}")


def pretty_node(node: dict[str, Any]) -> str:
    """Return a node for people (docker node inspect --pretty)."""
    desc = node.get("Description") or {}
    spec = node.get("Spec") or {}
    status = node.get("Status") or {}
    lines = ["ID:".ljust(20) + node.get("ID", "")]
    if spec.get("Name"):
        lines.append("Name:".ljust(20) + spec["Name"])
    if spec.get("Labels"):
        lines.append("Labels:")
        lines += [f" - {k}={v}" for k, v in sorted(spec["Labels"].items())]
    lines.append("Hostname:".ljust(20) + desc.get("Hostname", ""))
    lines.append("Joined at:".ljust(20) + str(node.get("CreatedAt", "")))
    lines.append("Status:")
    _kv(lines, "State", pretty(status.get("State", "")))
    _kv(lines, "Message", status.get("Message"))
    _kv(lines, "Availability", pretty(spec.get("Availability", "")))
    _kv(lines, "Address", status.get("Addr"))
    manager = node.get("ManagerStatus")
    if manager:
        lines.append("Manager Status:")
        _kv(lines, "Address", manager.get("Addr"))
        _kv(lines, "Raft Status", pretty(manager.get("Reachability", "")))
        _kv(lines, "Leader", "Yes" if manager.get("Leader") else "No")
    platform = desc.get("Platform") or {}
    lines.append("Platform:")
    _kv(lines, "Operating System", platform.get("OS"))
    _kv(lines, "Architecture", platform.get("Architecture"))
    res = desc.get("Resources") or {}
    lines.append("Resources:")
    _kv(lines, "CPUs", _cpus(res.get("NanoCPUs") or 0))
    _kv(lines, "Memory", _bytes(res.get("MemoryBytes") or 0))
    lines.append("Engine Version:".ljust(20) + (desc.get("Engine") or {}).get("EngineVersion", ""))
    engine_labels = (desc.get("Engine") or {}).get("Labels") or {}
    if engine_labels:
        lines.append("Engine Labels:")
        lines += [f" - {k}={v}" for k, v in sorted(engine_labels.items())]
    return "\n".join(lines)


def _policy(lines: list[str], title: str, cfg: dict[str, Any] | None) -> None:
    if not cfg:
        return
    lines.append(f"{title}:")
    _kv(lines, "Parallelism", cfg.get("Parallelism", 0))
    if cfg.get("Delay"):
        _kv(lines, "Delay", format_duration(cfg["Delay"]))
    _kv(lines, "On failure", cfg.get("FailureAction"))
    if cfg.get("Monitor"):
        _kv(lines, "Monitoring Period", format_duration(cfg["Monitor"]))
    _kv(lines, "Max failure ratio", f"{float(cfg.get('MaxFailureRatio') or 0):g}")
    _kv(lines, "Update order" if title == "UpdateConfig" else "Rollback order", cfg.get("Order"))


def _resources(lines: list[str], res: dict[str, Any]) -> None:
    if not any((res.get("Limits") or {}).values()) and not any(
            (res.get("Reservations") or {}).values()):
        return
    lines.append("Resources:")
    for part, title in (("Reservations", "Reservations"), ("Limits", "Limits")):
        r = res.get(part) or {}
        if r.get("NanoCPUs") or r.get("MemoryBytes"):
            lines.append(f" {title}:")
            if r.get("NanoCPUs"):
                _kv(lines, "CPU", _cpus(r["NanoCPUs"]), "  ")
            if r.get("MemoryBytes"):
                _kv(lines, "Memory", _bytes(r["MemoryBytes"]), "  ")


def pretty_service(service: dict[str, Any]) -> str:
    """Return a service for people (docker service inspect --pretty)."""
    spec = service.get("Spec") or {}
    task = spec.get("TaskTemplate") or {}
    cs = task.get("ContainerSpec") or {}
    lines = ["", "ID:".ljust(20) + service.get("ID", ""), "Name:".ljust(20) + spec.get("Name", "")]
    if spec.get("Labels"):
        lines.append("Labels:")
        lines += [f" {k}={v}" for k, v in sorted(spec["Labels"].items())]
    mode = mode_name(spec)
    lines.append("Service Mode:".ljust(20) + pretty(mode))
    if mode == "replicated":
        _kv(lines, "Replicas", ((spec.get("Mode") or {}).get("Replicated") or {}).get(
            "Replicas", 0))
    update = service.get("UpdateStatus")
    if update:
        lines.append("UpdateStatus:")
        _kv(lines, "State", update.get("State"))
        _kv(lines, "Started", update.get("StartedAt"))
        _kv(lines, "Completed", update.get("CompletedAt"))
        _kv(lines, "Message", update.get("Message"))
    placement = task.get("Placement") or {}
    lines.append("Placement:")
    if placement.get("Constraints"):
        _kv(lines, "Constraints", "[" + " ".join(placement["Constraints"]) + "]")
    for pref in placement.get("Preferences") or []:
        _kv(lines, "Preferences", "spread=" + ((pref.get("Spread") or {}).get(
            "SpreadDescriptor", "")))
    if placement.get("MaxReplicas"):
        _kv(lines, "Max Replicas Per Node", placement["MaxReplicas"])
    _policy(lines, "UpdateConfig", spec.get("UpdateConfig"))
    _policy(lines, "RollbackConfig", spec.get("RollbackConfig"))
    lines.append("ContainerSpec:")
    _kv(lines, "Image", cs.get("Image"))
    if cs.get("Command"):
        _kv(lines, "Command", " ".join(cs["Command"]))
    if cs.get("Args"):
        _kv(lines, "Args", " ".join(cs["Args"]))
    if cs.get("Env"):
        _kv(lines, "Env", " ".join(cs["Env"]))
    _kv(lines, "Dir", cs.get("Dir"))
    _kv(lines, "User", cs.get("User"))
    if cs.get("StopGracePeriod"):
        _kv(lines, "Stop Grace Period", format_duration(cs["StopGracePeriod"]))
    _kv(lines, "Stop Signal", cs.get("StopSignal"))
    if cs.get("Labels"):
        lines.append(" Labels:")
        lines += [f"  {k}={v}" for k, v in sorted(cs["Labels"].items())]
    health = cs.get("Healthcheck") or {}
    if health.get("Test"):
        lines.append("Healthcheck:")
        _kv(lines, "Test", " ".join(health["Test"]))
        for key in ("Interval", "Timeout", "StartPeriod"):
            if health.get(key):
                _kv(lines, key, format_duration(health[key]))
        _kv(lines, "Retries", health.get("Retries"))
    _resources(lines, task.get("Resources") or {})
    restart = task.get("RestartPolicy") or {}
    if restart:
        lines.append("RestartPolicy:")
        _kv(lines, "Condition", restart.get("Condition"))
        for key in ("Delay", "Window"):
            if restart.get(key):
                _kv(lines, key, format_duration(restart[key]))
        _kv(lines, "Max Attempts", restart.get("MaxAttempts"))
    nets = [n.get("Target", "") for n in task.get("Networks") or spec.get("Networks") or []]
    if nets:
        lines.append("Networks:".ljust(20) + " ".join(nets))
    endpoint = spec.get("EndpointSpec") or {}
    lines.append("Endpoint Mode:".ljust(20) + (endpoint.get("Mode") or "vip"))
    ports = endpoint.get("Ports") or []
    if ports:
        lines.append("Ports:")
        for p in ports:
            lines += [f" PublishedPort = {p.get('PublishedPort', 0)}",
                      f"  Protocol = {p.get('Protocol', 'tcp')}",
                      f"  TargetPort = {p.get('TargetPort', 0)}",
                      f"  PublishMode = {p.get('PublishMode', 'ingress')}"]
    return "\n".join(lines)
