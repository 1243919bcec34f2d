"""The ServiceSpec that `service create` and `service update` flags ask for.

The spec is the Engine API's ServiceSpec, filled the way the docker CLI fills
it (cli/command/service/opts.go, update.go): TaskTemplate.ContainerSpec
{Image, Command (= --entrypoint), Args, Env, Labels, Dir, User, Hostname, ...},
Resources, RestartPolicy (only when a --restart-* flag is given), Placement,
Networks; Mode, UpdateConfig and RollbackConfig (always, with docker's
defaults), EndpointSpec {Mode, Ports}, Labels.
"""

from __future__ import annotations

import shlex

from ..errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..flags import Options


def _set(doc: dict[str, Any], key: str, value: Any) -> None:
    """Set key, or drop it when value is empty (so specs stay minimal)."""
    if value in (None, "", [], {}):
        doc.pop(key, None)
    else:
        doc[key] = value


def _flat(lists: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [p for ps in lists for p in ps]


def _update_policy(opts: Options, prefix: str, current: dict[str, Any] | None,
                   create: bool) -> dict[str, Any]:
    """Return UpdateConfig or RollbackConfig from --update-* or --rollback-* flags."""
    cfg = dict(current or {})
    fields = (("parallelism", "Parallelism", lambda v: int(v)),
              ("delay", "Delay", None), ("failure_action", "FailureAction", None),
              ("monitor", "Monitor", None), ("max_failure_ratio", "MaxFailureRatio", None),
              ("order", "Order", None))
    for name, key, conv in fields:
        dest = f"{prefix}_{name}"
        if dest in opts.changed or (create and name in ("parallelism", "failure_action",
                                                          "order")):
            value = getattr(opts, dest)
            if dest not in opts.changed and name == "parallelism":
                value = 1
            cfg[key] = conv(value) if conv else value
        elif create:
            cfg.setdefault(key, 0)
    return cfg


def _healthcheck(opts: Options, current: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the Healthcheck the --health-* flags ask for (None when none was given)."""
    given = [n for n in ("health_cmd", "health_interval", "health_timeout", "health_retries",
                         "health_start_period") if n in opts.changed]
    if opts.no_healthcheck:
        if given:
            raise CLIError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return current
    hc = dict(current or {})
    if hc.get("Test") == ["NONE"]:
        hc = {}
    if "health_cmd" in opts.changed:
        _set(hc, "Test", ["CMD-SHELL", opts.health_cmd] if opts.health_cmd else None)
    for dest, key in (("health_interval", "Interval"), ("health_timeout", "Timeout"),
                      ("health_retries", "Retries"), ("health_start_period", "StartPeriod")):
        if dest in opts.changed:
            _set(hc, key, getattr(opts, dest) or None)
    return hc


def _container_common(cs: dict[str, Any], opts: Options) -> None:
    for dest, key in (("workdir", "Dir"), ("user", "User"), ("hostname", "Hostname"),
                      ("stop_signal", "StopSignal"), ("stop_grace_period", "StopGracePeriod")):
        if dest in opts.changed:
            _set(cs, key, getattr(opts, dest))
    for dest, key in (("tty", "TTY"), ("read_only", "ReadOnly"), ("init", "Init")):
        if dest in opts.changed:
            cs[key] = bool(getattr(opts, dest))
    if "entrypoint" in opts.changed:
        _set(cs, "Command", shlex.split(opts.entrypoint))
    _set(cs, "Healthcheck", _healthcheck(opts, cs.get("Healthcheck")))


def _task_common(task: dict[str, Any], opts: Options) -> None:
    res = task.get("Resources") or {}
    for dest, part, key in (("limit_cpu", "Limits", "NanoCPUs"),
                            ("limit_memory", "Limits", "MemoryBytes"),
                            ("reserve_cpu", "Reservations", "NanoCPUs"),
                            ("reserve_memory", "Reservations", "MemoryBytes")):
        if dest in opts.changed:
            section = dict(res.get(part) or {})
            _set(section, key, getattr(opts, dest))
            _set(res, part, section)
    _set(task, "Resources", res)
    policy = dict(task.get("RestartPolicy") or {})
    for dest, key in (("restart_condition", "Condition"), ("restart_delay", "Delay"),
                      ("restart_max_attempts", "MaxAttempts"), ("restart_window", "Window")):
        if dest in opts.changed:
            policy[key] = getattr(opts, dest)
    _set(task, "RestartPolicy", policy)
    if "replicas_max_per_node" in opts.changed:
        placement = dict(task.get("Placement") or {})
        _set(placement, "MaxReplicas", opts.replicas_max_per_node)
        _set(task, "Placement", placement)


def build_spec(opts: Options, image: str, args: list[str]) -> dict[str, Any]:
    """Return the ServiceSpec for `service create` flags, IMAGE and its arguments."""
    from ..opts import parse_labels, read_env

    try:
        env = read_env(opts.env_file, opts.env)
        labels = parse_labels([], opts.label)
        container_labels = parse_labels([], opts.container_label)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    cs: dict[str, Any] = {"Image": image}
    _set(cs, "Labels", container_labels)
    _set(cs, "Args", args)
    _set(cs, "Env", env)
    _set(cs, "Mounts", opts.mount)
    _container_common(cs, opts)
    task: dict[str, Any] = {"ContainerSpec": cs}
    _task_common(task, opts)
    placement = dict(task.get("Placement") or {})
    _set(placement, "Constraints", opts.constraint)
    _set(placement, "Preferences", opts.placement_pref)
    _set(task, "Placement", placement)
    _set(task, "Networks", opts.network)
    if opts.mode == "global":
        for dest in ("replicas", "replicas_max_per_node"):
            if dest in opts.changed:
                flag = dest.replace("_", "-")
                raise CLIError(f"{flag} can only be used with replicated or replicated-job mode")
        mode: dict[str, Any] = {"Global": {}}
    else:
        mode = {"Replicated": {"Replicas": opts.replicas if "replicas" in opts.changed else 1}}
    spec: dict[str, Any] = {}
    _set(spec, "Name", opts.name)
    _set(spec, "Labels", labels)
    spec["TaskTemplate"] = task
    spec["Mode"] = mode
    spec["UpdateConfig"] = _update_policy(opts, "update", None, True)
    spec["RollbackConfig"] = _update_policy(opts, "rollback", None, True)
    endpoint: dict[str, Any] = {"Mode": opts.endpoint_mode}
    _set(endpoint, "Ports", _flat(opts.publish))
    spec["EndpointSpec"] = endpoint
    return spec


def _env_key(entry: str) -> str:
    return entry.partition("=")[0]


def apply_update(spec: dict[str, Any], opts: Options,
                 network_ids: dict[str, str] | None = None) -> dict[str, Any]:
    """Return spec changed by `service update` flags (docker's updateService).

    ``network_ids`` maps network names to ids, so ``--network-rm NAME`` also
    removes an attachment the daemon stored by id.
    """
    from ..portconfig import port_key

    task = spec.setdefault("TaskTemplate", {})
    cs = task.setdefault("ContainerSpec", {})
    changed = opts.changed
    if "image" in changed:
        cs["Image"] = opts.image
    if "args" in changed:
        _set(cs, "Args", shlex.split(opts.args))
    if opts.env_add or opts.env_rm:
        added = {_env_key(e) for e in opts.env_add}
        gone = set(opts.env_rm) | added
        _set(cs, "Env", [e for e in cs.get("Env") or [] if _env_key(e) not in gone]
             + list(opts.env_add))
    if opts.container_label_add or opts.container_label_rm:
        from .swarm_api import apply_labels

        _set(cs, "Labels", apply_labels(cs.get("Labels") or {}, opts.container_label_add,
                                        opts.container_label_rm))
    if opts.label_add or opts.label_rm:
        from .swarm_api import apply_labels

        _set(spec, "Labels", apply_labels(spec.get("Labels") or {}, opts.label_add,
                                          opts.label_rm))
    if opts.mount_add or opts.mount_rm:
        new_targets = {m.get("Target") for m in opts.mount_add}
        gone = set(opts.mount_rm) | new_targets
        _set(cs, "Mounts", [m for m in cs.get("Mounts") or [] if m.get("Target") not in gone]
             + list(opts.mount_add))
    _container_common(cs, opts)
    _task_common(task, opts)
    placement = dict(task.get("Placement") or {})
    if opts.constraint_add or opts.constraint_rm:
        gone = set(opts.constraint_rm) | set(opts.constraint_add)
        _set(placement, "Constraints", [c for c in placement.get("Constraints") or []
                                        if c not in gone] + list(opts.constraint_add))
    if opts.placement_pref_add or opts.placement_pref_rm:
        prefs = [p for p in placement.get("Preferences") or [] if p not in opts.placement_pref_rm]
        _set(placement, "Preferences", prefs + list(opts.placement_pref_add))
    _set(task, "Placement", placement)
    if opts.network_add or opts.network_rm:
        ids = network_ids or {}
        gone = set(opts.network_rm) | {ids[n] for n in opts.network_rm if n in ids}
        nets = [n for n in task.get("Networks") or [] if n.get("Target") not in gone]
        have = {n.get("Target") for n in nets}
        for att in opts.network_add:
            if att["Target"] in have or ids.get(att["Target"]) in have:
                raise CLIError(f"service is already attached to network {att['Target']}")
            nets.append(att)
        _set(task, "Networks", nets)
    if opts.publish_add or opts.publish_rm:
        endpoint = spec.setdefault("EndpointSpec", {})
        new_ports = _flat(opts.publish_add)
        dropped = {port_key(p) for p in new_ports} | {_port_rm_key(v) for v in opts.publish_rm}
        _set(endpoint, "Ports", [p for p in endpoint.get("Ports") or []
                                 if port_key(p) not in dropped] + new_ports)
    if "replicas" in changed:
        mode = spec.get("Mode") or {}
        if "Replicated" not in mode:
            raise CLIError("replicas can only be used with replicated or replicated-job mode")
        mode["Replicated"] = {**(mode.get("Replicated") or {}), "Replicas": opts.replicas}
    if any(n.startswith("update_") for n in changed):
        spec["UpdateConfig"] = _update_policy(opts, "update", spec.get("UpdateConfig"), False)
    if any(n.startswith("rollback_") for n in changed):
        spec["RollbackConfig"] = _update_policy(opts, "rollback", spec.get("RollbackConfig"),
                                                False)
    if opts.force:
        task["ForceUpdate"] = int(task.get("ForceUpdate") or 0) + 1
    return spec


def _port_rm_key(value: str) -> tuple[int, str]:
    """Return (target, protocol) of a --publish-rm value: ``80``, ``80/udp`` or long form."""
    if "=" in value:
        from ..portconfig import parse_long, port_key

        try:
            return port_key(parse_long(value))
        except ValueError as exc:
            raise CLIError(f'invalid argument "{value}" for "--publish-rm" flag: {exc}') from None
    port, _, proto = value.partition("/")
    if not port.isdigit():
        raise CLIError(f'invalid argument "{value}" for "--publish-rm" flag: '
                       "invalid target port")
    return int(port), proto or "tcp"
