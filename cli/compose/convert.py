"""Turn a Project into what `stack deploy` sends: ServiceSpecs and network create bodies.

Naming and labels follow docker stack deploy (cli/compose/convert): services
and networks are ``STACK_name``; services get ``com.docker.stack.namespace``
(and ``com.docker.stack.image``) labels, their containers the namespace label;
``deploy.labels`` are service labels, the service's own ``labels`` container
labels; a service without networks joins ``STACK_default``; each attachment
has the service's short name as an alias. Networks are overlay unless a
driver is given; ``external`` ones are only checked, never created.
"""

from __future__ import annotations

from ..opts import parse_key_value_file
from .errors import ComposeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .project import Project

STACK_LABEL = "com.docker.stack.namespace"
IMAGE_LABEL = "com.docker.stack.image"
DEFAULT_NETWORK = "default"


class Plan:
    """What a stack needs: service specs, networks to create, external networks to check."""

    def __init__(self) -> None:
        self.services: dict[str, dict[str, Any]] = {}
        self.networks: dict[str, dict[str, Any]] = {}
        self.external_networks: list[str] = []


def validate_stack_name(name: str) -> None:
    """Refuse a stack name that cannot prefix service and network names."""
    if not name or not (name[0].isascii() and name[0].isalnum()) or not all(
            c.isascii() and (c.isalnum() or c in "_.-") for c in name):
        raise ComposeError(f"invalid stack name {name!r}: use letters, digits, '_', '.' and "
                           "'-', starting with a letter or digit")


def _set(doc: dict[str, Any], key: str, value: Any) -> None:
    if value not in (None, "", [], {}):
        doc[key] = value


def network_name(project: Project, stack: str, name: str) -> str:
    """Return the real name of a stack's network (``STACK_name`` unless renamed/external)."""
    cfg = project.networks.get(name) or {}
    return cfg.get("name") or (name if cfg.get("external") else f"{stack}_{name}")


def _environment(project: Project, svc: dict[str, Any], name: str) -> list[str]:
    env: dict[str, str | None] = {}
    for i, path in enumerate(svc.get("env_file") or []):
        try:
            items = parse_key_value_file(path, from_env=False)
        except ValueError as exc:
            raise project.marks.error(("services", name, "env_file", i), str(exc)) from None
        for item in items:
            key, eq, text = item.partition("=")
            env[key] = text if eq else None
    env.update(svc.get("environment") or {})
    out = []
    for key in sorted(env):
        value = env[key]
        if value is None:
            value = project.environ.get(key)
        out.append(key if value is None else f"{key}={value}")
    return out


def _healthcheck(project: Project, hc: dict[str, Any], path: tuple[Any, ...]
                 ) -> dict[str, Any] | None:
    if not hc:
        return None
    if hc.get("disable"):
        if hc.get("test"):
            raise project.marks.error(path, "test and disable can't be set at the same time")
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    _set(out, "Test", hc.get("test"))
    for key, api in (("interval", "Interval"), ("timeout", "Timeout"),
                     ("start_period", "StartPeriod"), ("start_interval", "StartInterval"),
                     ("retries", "Retries")):
        _set(out, api, hc.get(key))
    return out


def _mounts(project: Project, stack: str, svc: dict[str, Any], name: str
            ) -> list[dict[str, Any]]:
    out = []
    for i, m in enumerate(svc.get("volumes") or []):
        m = {k: (dict(v) if isinstance(v, dict) else v) for k, v in m.items()}
        source = m.get("Source")
        if m["Type"] == "volume" and source:
            if source not in project.volumes:
                raise project.marks.error(("services", name, "volumes", i),
                                          f'undefined volume "{source}"')
            cfg = project.volumes[source] or {}
            if cfg.get("external"):
                m["Source"] = cfg.get("name") or source
            else:
                m["Source"] = cfg.get("name") or f"{stack}_{source}"
                opts = m.setdefault("VolumeOptions", {})
                opts["Labels"] = {**(cfg.get("labels") or {}), STACK_LABEL: stack}
                if cfg.get("driver"):
                    driver: dict[str, Any] = {"Name": cfg["driver"]}
                    _set(driver, "Options", cfg.get("driver_opts"))
                    opts["DriverConfig"] = driver
        out.append(m)
    return out


def _restart_policy(svc: dict[str, Any]) -> dict[str, Any] | None:
    policy = (svc.get("deploy") or {}).get("restart_policy")
    if policy is not None:
        out: dict[str, Any] = {}
        for key, api in (("condition", "Condition"), ("delay", "Delay"),
                         ("max_attempts", "MaxAttempts"), ("window", "Window")):
            if key in policy:
                out[api] = policy[key]
        return out
    restart = svc.get("restart")
    if not restart:
        return None
    kind, _, count = restart.partition(":")
    if kind == "no":
        return {"Condition": "none"}
    if kind == "on-failure":
        out = {"Condition": "on-failure"}
        if count.isdigit():
            out["MaxAttempts"] = int(count)
        return out
    return {"Condition": "any"}


def _update_config(cfg: dict[str, Any] | None) -> dict[str, Any] | None:
    if cfg is None:
        return None
    out: dict[str, Any] = {"Parallelism": cfg.get("parallelism", 1)}
    for key, api in (("delay", "Delay"), ("failure_action", "FailureAction"),
                     ("monitor", "Monitor"), ("max_failure_ratio", "MaxFailureRatio"),
                     ("order", "Order")):
        if key in cfg:
            out[api] = cfg[key]
    return out


def _resources(res: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part, api in (("limits", "Limits"), ("reservations", "Reservations")):
        r: dict[str, Any] = {}
        _set(r, "NanoCPUs", (res.get(part) or {}).get("cpus"))
        _set(r, "MemoryBytes", (res.get(part) or {}).get("memory"))
        _set(out, api, r)
    return out


def service_spec(project: Project, stack: str, name: str) -> dict[str, Any]:
    """Return the ServiceSpec of one Compose service in the stack."""
    svc = project.services[name]
    path: tuple[Any, ...] = ("services", name)
    deploy = svc.get("deploy") or {}
    image = svc.get("image")
    if not image:
        raise project.marks.error(path, "image is required (shoal does not build images)")
    cs: dict[str, Any] = {"Image": image,
                          "Labels": {**(svc.get("labels") or {}), STACK_LABEL: stack}}
    _set(cs, "Command", svc.get("entrypoint"))
    _set(cs, "Args", svc.get("command"))
    _set(cs, "Hostname", svc.get("hostname"))
    _set(cs, "Env", _environment(project, svc, name))
    _set(cs, "Dir", svc.get("working_dir"))
    _set(cs, "User", svc.get("user"))
    _set(cs, "StopSignal", svc.get("stop_signal"))
    _set(cs, "StopGracePeriod", svc.get("stop_grace_period"))
    _set(cs, "Healthcheck", _healthcheck(project, svc.get("healthcheck") or {},
                                         (*path, "healthcheck")))
    _set(cs, "Mounts", _mounts(project, stack, svc, name))
    for key, api in (("tty", "TTY"), ("stdin_open", "OpenStdin"), ("read_only", "ReadOnly")):
        if svc.get(key):
            cs[api] = True
    if "init" in svc:
        cs["Init"] = svc["init"]
    _set(cs, "CapabilityAdd", svc.get("cap_add"))
    _set(cs, "CapabilityDrop", svc.get("cap_drop"))
    task: dict[str, Any] = {"ContainerSpec": cs}
    _set(task, "Resources", _resources(deploy.get("resources") or {}))
    _set(task, "RestartPolicy", _restart_policy(svc))
    placement_cfg = deploy.get("placement") or {}
    placement: dict[str, Any] = {}
    _set(placement, "Constraints", placement_cfg.get("constraints"))
    _set(placement, "Preferences", [{"Spread": {"SpreadDescriptor": s}}
                                    for s in placement_cfg.get("preferences") or []])
    _set(placement, "MaxReplicas", placement_cfg.get("max_replicas_per_node"))
    _set(task, "Placement", placement)
    task["Networks"] = _networks(project, stack, svc, name)
    mode = deploy.get("mode", "replicated")
    if mode == "global":
        if "replicas" in deploy:
            raise project.marks.error((*path, "deploy", "replicas"), "replicas can only be used "
                                      "with replicated or replicated-job mode")
        if "max_replicas_per_node" in placement_cfg:
            raise project.marks.error(
                (*path, "deploy", "placement", "max_replicas_per_node"),
                "max_replicas_per_node can only be used with replicated or replicated-job mode")
        service_mode: dict[str, Any] = {"Global": {}}
    else:
        service_mode = {"Replicated": {"Replicas": deploy.get("replicas", 1)}}
    spec: dict[str, Any] = {
        "Name": f"{stack}_{name}",
        "Labels": {**(deploy.get("labels") or {}), STACK_LABEL: stack, IMAGE_LABEL: image},
        "TaskTemplate": task,
        "Mode": service_mode,
    }
    _set(spec, "UpdateConfig", _update_config(deploy.get("update_config")))
    _set(spec, "RollbackConfig", _update_config(deploy.get("rollback_config")))
    endpoint: dict[str, Any] = {"Mode": deploy.get("endpoint_mode", "vip")}
    _set(endpoint, "Ports", svc.get("ports"))
    spec["EndpointSpec"] = endpoint
    return spec


def _networks(project: Project, stack: str, svc: dict[str, Any], name: str
              ) -> list[dict[str, Any]]:
    nets = svc.get("networks") or {DEFAULT_NETWORK: {}}
    out = []
    for net, cfg in nets.items():
        if net not in project.networks and net != DEFAULT_NETWORK:
            raise project.marks.error(("services", name, "networks", net),
                                      f'service "{name}" references network "{net}", '
                                      "which is not declared")
        aliases = list((cfg or {}).get("aliases") or [])
        out.append({"Target": network_name(project, stack, net), "Aliases": [*aliases, name]})
    return sorted(out, key=lambda n: n["Target"])


def network_create(cfg: dict[str, Any], stack: str) -> dict[str, Any]:
    """Return the POST /networks/create body (without Name) of a stack network."""
    body: dict[str, Any] = {
        "Driver": cfg.get("driver") or "overlay", "Scope": "swarm",
        "Internal": bool(cfg.get("internal")), "Attachable": bool(cfg.get("attachable")),
        "Labels": {**(cfg.get("labels") or {}), STACK_LABEL: stack},
    }
    _set(body, "Options", cfg.get("driver_opts"))
    ipam = cfg.get("ipam") or {}
    if ipam:
        doc: dict[str, Any] = {}
        _set(doc, "Driver", ipam.get("driver"))
        configs = []
        for c in ipam.get("config") or []:
            item: dict[str, Any] = {}
            _set(item, "Subnet", c.get("subnet"))
            _set(item, "Gateway", c.get("gateway"))
            _set(item, "IPRange", c.get("ip_range"))
            configs.append(item)
        _set(doc, "Config", configs)
        body["IPAM"] = doc
    return body


def plan_stack(project: Project, stack: str) -> Plan:
    """Return the specs and networks a stack of the project needs."""
    validate_stack_name(stack)
    plan = Plan()
    used: set[str] = set()
    for name in sorted(project.services):
        plan.services[f"{stack}_{name}"] = service_spec(project, stack, name)
        used |= set(project.services[name].get("networks") or {DEFAULT_NETWORK: {}})
    for net in sorted(used):
        cfg = project.networks.get(net) or {}
        real = network_name(project, stack, net)
        if cfg.get("external"):
            plan.external_networks.append(real)
        else:
            plan.networks[real] = network_create(cfg, stack)
    return plan
