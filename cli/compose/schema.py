"""Validate one Compose file and bring it to one canonical form, ready to merge.

Canonical forms: environment, labels and deploy.labels are mappings; ports
are Docker PortConfigs; volumes are Docker Mounts (a volume's Source still
the Compose name); networks of a service are ``{name: {"aliases": [...]}}``;
commands are lists; durations nanoseconds; sizes bytes; CPUs NanoCPUs.

Keys of the Compose specification that shoal does not implement are noted,
not refused (one warning lists them); keys that are not Compose at all are
errors, as for docker. ``x-`` keys are extensions and skipped everywhere.
"""

from __future__ import annotations

from ..portconfig import MODES, PROTOCOLS, parse_short, port_config
from .values import Checker, show

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .errors import Path

# Compose service keys shoal accepts but does not act on (docker stack ignores most too).
UNSUPPORTED_SERVICE = frozenset({
    "annotations", "attach", "blkio_config", "build", "cgroup", "cgroup_parent", "configs",
    "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
    "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec", "depends_on", "develop",
    "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname", "expose",
    "extends", "external_links", "extra_hosts", "gpus", "group_add", "ipc", "isolation",
    "label_file", "links", "logging", "mac_address", "mem_limit", "mem_reservation",
    "mem_swappiness", "memswap_limit", "models", "network_mode", "oom_kill_disable",
    "oom_score_adj", "pid", "pids_limit", "platform", "post_start", "pre_stop", "privileged",
    "profiles", "provider", "pull_policy", "runtime", "scale", "secrets", "security_opt",
    "shm_size", "storage_opt", "sysctls", "tmpfs", "ulimits", "use_api_socket", "userns_mode",
    "uts", "volumes_from",
})
UNSUPPORTED_TOP = frozenset({"configs", "secrets", "include", "models"})
RESTART_VALUES = ("no", "always", "on-failure", "unless-stopped")


# -- service values -------------------------------------------------------------

def _environment(ck: Checker, v: Any, p: Path) -> dict[str, str | None]:
    return ck.dict_or_list(v, p, None)


def _labels(ck: Checker, v: Any, p: Path) -> dict[str, str | None]:
    return ck.dict_or_list(v, p, "")


def _env_file(ck: Checker, v: Any, p: Path) -> list[str]:
    if isinstance(v, list):
        out = []
        for i, item in enumerate(v):
            if isinstance(item, dict):  # long syntax {path, required}
                item = ck.fields(item, (*p, i), {"path": Checker.string,
                                                 "required": Checker.boolean})
                if "path" not in item:
                    raise ck.fail((*p, i), "path is required")
                out.append(ck.path_of(item["path"]))
            else:
                out.append(ck.path_of(ck.string(item, (*p, i))))
        return out
    return [ck.path_of(ck.string(v, p))]


def _port_long(ck: Checker, item: dict[str, Any], p: Path) -> list[dict[str, Any]]:
    fields = ck.fields(item, p, {
        "target": lambda c, v, q: c.integer(v, q, 1),
        "published": lambda c, v, q: c.string(v, q),
        "protocol": lambda c, v, q: c.choice(v, q, PROTOCOLS),
        "mode": lambda c, v, q: c.choice(v, q, MODES),
        "name": Checker.string, "app_protocol": Checker.string,
    }, {"host_ip"}, "ports.")
    if "target" not in fields:
        raise ck.fail(p, "target is required")
    proto, mode = fields.get("protocol", "tcp"), fields.get("mode", "ingress")
    published = fields.get("published", "")
    if not published:
        return [port_config(fields["target"], 0, proto, mode)]
    start, _, end = published.partition("-")
    if not start.isdigit() or (end and not end.isdigit()):
        raise ck.fail((*p, "published"), f"must be a port or a range, not {show(published)}")
    return [port_config(fields["target"], n, proto, mode)
            for n in range(int(start), int(end or start) + 1)]


def _ports(ck: Checker, v: Any, p: Path) -> list[dict[str, Any]]:
    if not isinstance(v, list):
        raise ck.fail(p, f"must be a list, not {show(v)}")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(v):
        at = (*p, i)
        if isinstance(item, dict):
            out += _port_long(ck, item, at)
            continue
        text = ck.string(item, at)
        try:
            configs, ip = parse_short(text, allow_ip=True)
        except ValueError as exc:
            raise ck.fail(at, str(exc)) from None
        if ip:
            ck.unsupported.add("ports.host_ip")
        out += configs
    return out


def _volumes(ck: Checker, v: Any, p: Path) -> list[dict[str, Any]]:
    from ..mounts import is_file_path, split_volume

    if not isinstance(v, list):
        raise ck.fail(p, f"must be a list, not {show(v)}")
    out = []
    for i, item in enumerate(v):
        at = (*p, i)
        if isinstance(item, dict):
            out.append(_volume_long(ck, item, at))
            continue
        text = ck.string(item, at)
        try:
            source, target, mode = split_volume(text)
        except ValueError as exc:
            raise ck.fail(at, str(exc)) from None
        if not target.startswith("/"):
            raise ck.fail(at, f"{show(target)}: the target must be an absolute path")
        m: dict[str, Any] = {"Type": "volume", "Target": target}
        if source and is_file_path(source):
            m.update(Type="bind", Source=ck.path_of(source))
        elif source:
            m["Source"] = source
        modes = set(mode.split(",")) if mode else set()
        if "ro" in modes:
            m["ReadOnly"] = True
        if "nocopy" in modes:
            m["VolumeOptions"] = {"NoCopy": True}
        out.append(m)
    return out


def _volume_long(ck: Checker, item: dict[str, Any], p: Path) -> dict[str, Any]:
    f = ck.fields(item, p, {
        "type": lambda c, v, q: c.choice(v, q, ("volume", "bind", "tmpfs")),
        "source": Checker.string, "target": Checker.string,
        "read_only": Checker.boolean,
        "volume": lambda c, v, q: c.fields(v, q, {"nocopy": Checker.boolean},
                                           {"subpath"}, "volumes.volume."),
        "bind": lambda c, v, q: c.fields(v, q, {"propagation": Checker.string},
                                         {"create_host_path", "selinux"}, "volumes.bind."),
        "tmpfs": lambda c, v, q: c.fields(v, q, {"size": Checker.memory},
                                          {"mode"}, "volumes.tmpfs."),
    }, {"consistency"}, "volumes.")
    if "target" not in f:
        raise ck.fail(p, "target is required")
    m: dict[str, Any] = {"Type": f.get("type", "volume"), "Target": f["target"]}
    if f.get("source"):
        m["Source"] = ck.path_of(f["source"]) if m["Type"] == "bind" else f["source"]
    if f.get("read_only"):
        m["ReadOnly"] = True
    if (f.get("volume") or {}).get("nocopy"):
        m["VolumeOptions"] = {"NoCopy": True}
    if (f.get("bind") or {}).get("propagation"):
        m["BindOptions"] = {"Propagation": f["bind"]["propagation"]}
    if (f.get("tmpfs") or {}).get("size"):
        m["TmpfsOptions"] = {"SizeBytes": f["tmpfs"]["size"]}
    return m


def _healthcheck(ck: Checker, v: Any, p: Path) -> dict[str, Any]:
    def test(c: Checker, value: Any, q: Path) -> list[str]:
        if isinstance(value, str):
            return ["CMD-SHELL", value]
        return c.command(value, q)

    return ck.fields(v, p, {
        "test": test, "interval": Checker.duration, "timeout": Checker.duration,
        "start_period": Checker.duration, "start_interval": Checker.duration,
        "retries": Checker.integer, "disable": Checker.boolean,
    })


def _service_networks(ck: Checker, v: Any, p: Path) -> dict[str, dict[str, Any]]:
    if isinstance(v, list):
        out: dict[str, dict[str, Any]] = {}
        for i, item in enumerate(v):
            name = ck.string(item, (*p, i))
            out[name] = {}
            ck.marks.alias((*p, name), (*p, i))
        return out
    return {name: ck.fields(cfg, (*p, name), {"aliases": Checker.strings}, {
        "ipv4_address", "ipv6_address", "link_local_ips", "mac_address", "driver_opts",
        "priority", "gw_priority", "interface_name"}, "networks.")
        for name, cfg in ck.mapping(v, p).items()}


def _restart(ck: Checker, v: Any, p: Path) -> str:
    s = ck.string(v, p)
    if s.partition(":")[0] not in RESTART_VALUES:
        raise ck.fail(p, f"must be one of {', '.join(RESTART_VALUES)}, not {show(v)}")
    return s


# -- deploy ---------------------------------------------------------------------

def _policy(ck: Checker, v: Any, p: Path, actions: tuple[str, ...]) -> dict[str, Any]:
    return ck.fields(v, p, {
        "parallelism": Checker.integer, "delay": Checker.duration,
        "failure_action": lambda c, x, q: c.choice(x, q, actions),
        "monitor": Checker.duration, "max_failure_ratio": Checker.number,
        "order": lambda c, x, q: c.choice(x, q, ("start-first", "stop-first")),
    })


def _resources(ck: Checker, v: Any, p: Path) -> dict[str, Any]:
    part = {"cpus": Checker.cpus, "memory": Checker.memory}
    return ck.fields(v, p, {
        "limits": lambda c, x, q: c.fields(x, q, part, {"pids"}, "deploy.resources.limits."),
        "reservations": lambda c, x, q: c.fields(
            x, q, part, {"devices", "generic_resources"}, "deploy.resources.reservations."),
    })


def _placement(ck: Checker, v: Any, p: Path) -> dict[str, Any]:
    def prefs(c: Checker, x: Any, q: Path) -> list[str]:
        if not isinstance(x, list):
            raise c.fail(q, f"must be a list, not {show(x)}")
        out = []
        for i, item in enumerate(x):
            pref = c.fields(item, (*q, i), {"spread": Checker.string})
            if "spread" not in pref:
                raise c.fail((*q, i), "spread is required")
            out.append(pref["spread"])
        return out

    return ck.fields(v, p, {"constraints": Checker.strings, "preferences": prefs,
                            "max_replicas_per_node": Checker.integer})


def _deploy(ck: Checker, v: Any, p: Path) -> dict[str, Any]:
    return ck.fields(v, p, {
        "mode": lambda c, x, q: c.choice(x, q, ("replicated", "global")),
        "replicas": Checker.integer,
        "labels": _labels,
        "endpoint_mode": lambda c, x, q: c.choice(x, q, ("vip", "dnsrr")),
        "placement": _placement,
        "resources": _resources,
        "restart_policy": lambda c, x, q: c.fields(x, q, {
            "condition": lambda c2, y, r: c2.choice(y, r, ("none", "on-failure", "any")),
            "delay": Checker.duration, "max_attempts": Checker.integer,
            "window": Checker.duration}),
        "update_config": lambda c, x, q: _policy(c, x, q, ("continue", "rollback", "pause")),
        "rollback_config": lambda c, x, q: _policy(c, x, q, ("continue", "pause")),
    })


SERVICE = {
    "image": Checker.string, "command": Checker.command, "entrypoint": Checker.command,
    "environment": _environment, "env_file": _env_file, "labels": _labels, "ports": _ports,
    "volumes": _volumes, "healthcheck": _healthcheck, "hostname": Checker.string,
    "user": Checker.string, "working_dir": Checker.string, "stop_signal": Checker.string,
    "stop_grace_period": Checker.duration, "networks": _service_networks, "deploy": _deploy,
    "restart": _restart, "tty": Checker.boolean, "stdin_open": Checker.boolean,
    "read_only": Checker.boolean, "init": Checker.boolean, "cap_add": Checker.strings,
    "cap_drop": Checker.strings,
}


# -- top level ------------------------------------------------------------------

def _external(ck: Checker, v: Any, p: Path) -> dict[str, Any]:
    if isinstance(v, dict):
        ext = ck.fields(v, p, {"name": Checker.string})
        return {"external": True, **ext}
    return {"external": ck.boolean(v, p)}


def _network(ck: Checker, v: Any, p: Path) -> dict[str, Any]:
    def ipam(c: Checker, x: Any, q: Path) -> dict[str, Any]:
        def configs(c2: Checker, y: Any, r: Path) -> list[dict[str, Any]]:
            if not isinstance(y, list):
                raise c2.fail(r, f"must be a list, not {show(y)}")
            return [c2.fields(item, (*r, i), {"subnet": Checker.string,
                                              "gateway": Checker.string,
                                              "ip_range": Checker.string},
                              {"aux_addresses"}, "networks.ipam.config.")
                    for i, item in enumerate(y)]

        return c.fields(x, q, {"driver": Checker.string, "config": configs},
                        {"options"}, "networks.ipam.")

    cfg = ck.fields(v, p, {
        "driver": Checker.string, "driver_opts": _labels, "attachable": Checker.boolean,
        "internal": Checker.boolean, "labels": _labels, "external": _external,
        "name": Checker.string, "ipam": ipam,
    }, {"enable_ipv4", "enable_ipv6"}, "networks.")
    ext = cfg.pop("external", None)
    if ext:
        cfg["external"] = ext["external"]
        if ext.get("name"):
            cfg["name"] = ext["name"]
    return cfg


def _volume(ck: Checker, v: Any, p: Path) -> dict[str, Any]:
    cfg = ck.fields(v, p, {
        "driver": Checker.string, "driver_opts": _labels, "labels": _labels,
        "external": _external, "name": Checker.string,
    })
    ext = cfg.pop("external", None)
    if ext:
        cfg["external"] = ext["external"]
        if ext.get("name"):
            cfg["name"] = ext["name"]
    return cfg


def _named(handler: Any) -> Any:
    def each(ck: Checker, v: Any, p: Path) -> dict[str, Any]:
        return {name: handler(ck, cfg, (*p, name)) for name, cfg in ck.mapping(v, p).items()}
    return each


def _services(ck: Checker, v: Any, p: Path) -> dict[str, Any]:
    out = {}
    for name, cfg in ck.mapping(v, p).items():
        if not name or not all(c.isascii() and (c.isalnum() or c in "._-") for c in name):
            raise ck.fail((*p, name), "a service name may only hold letters, digits, '.', "
                                      "'_' and '-'")
        out[name] = ck.fields(cfg, (*p, name), SERVICE, UNSUPPORTED_SERVICE)
    return out


TOP = {
    "version": lambda c, v, p: None, "name": lambda c, v, p: None,
    "services": _services, "networks": _named(_network), "volumes": _named(_volume),
}


def check_file(ck: Checker, doc: Any) -> dict[str, Any]:
    """Return a file's canonical {services, networks, volumes}; raise ComposeError."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ck.fail((), f"the top level must be a mapping, not {show(doc)}")
    out = ck.fields(doc, (), TOP, UNSUPPORTED_TOP)
    out.pop("version", None)
    out.pop("name", None)
    return out
