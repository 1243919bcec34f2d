"""Checks of names and specs that need nothing but the spec (the store's checks are
in the object modules). Messages are SwarmKit's where it has one."""

from __future__ import annotations

import re
from collections.abc import Iterable

from google.protobuf.duration_pb2 import Duration

from shoal.engine.images.reference import try_parse
from shoal.manager.controlapi.constraints import check_preference, parse_constraint
from shoal.manager.controlapi.errors import InvalidArgument
from shoal.proto.shoal.v1 import specs_pb2, types_pb2

_DNS_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
_OBJECT_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")
MAX_SECRET_SIZE = 500 * 1024
MAX_CONFIG_SIZE = 1000 * 1024
MIN_NANO_CPUS = 1_000_000
MIN_MEMORY = 4 * 1024 * 1024
_MIN_HEALTH_DURATION_NS = 1_000_000


def check_dns_name(name: str) -> None:
    """Refuse a service or network name that is not a valid DNS label (Docker's rule)."""
    if not name:
        raise InvalidArgument("meta: name must be provided")
    if not _DNS_NAME.match(name):
        raise InvalidArgument("name must be valid as a DNS name component")
    if len(name) > 63:
        raise InvalidArgument("name must be 63 characters or fewer")


def check_object_name(name: str) -> None:
    """Refuse a secret or config name Docker refuses."""
    if not name:
        raise InvalidArgument("name must be provided")
    if len(name) > 64 or not _OBJECT_NAME.match(name):
        raise InvalidArgument(
            "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end "
            "character must be [a-zA-Z0-9]"
        )


def check_data(kind: str, data: bytes, limit: int) -> None:
    if not 0 < len(data) < limit:
        raise InvalidArgument(f"{kind} data must be larger than 0 and less than {limit} bytes")


def _ns(d: Duration) -> int:
    return d.seconds * 1_000_000_000 + d.nanos


def _not_negative(d: Duration, message: str) -> None:
    if _ns(d) < 0:
        raise InvalidArgument(message)


def _enum(value: int, enum: type, what: str) -> None:
    if value not in enum.values():  # type: ignore[attr-defined]
        raise InvalidArgument(f"{what}: unknown value {value}")


def check_resources(r: types_pb2.Resources) -> None:
    if r.nano_cpus < 0 or (r.nano_cpus and r.nano_cpus < MIN_NANO_CPUS):
        raise InvalidArgument(
            f"invalid cpu value {r.nano_cpus / 1e9:g}: Must be at least {MIN_NANO_CPUS / 1e9:g}"
        )
    if r.memory_bytes < 0 or (r.memory_bytes and r.memory_bytes < MIN_MEMORY):
        raise InvalidArgument(f"invalid memory value {r.memory_bytes}: Must be at least 4MiB")


def check_restart(rp: types_pb2.RestartPolicy) -> None:
    _enum(rp.condition, types_pb2.RestartPolicy.Condition, "TaskSpec: restart-condition")
    _not_negative(rp.delay, "TaskSpec: restart-delay cannot be negative")
    _not_negative(rp.window, "TaskSpec: restart-window cannot be negative")


def check_update_config(uc: types_pb2.UpdateConfig, what: str = "update") -> None:
    _not_negative(uc.delay, f"TaskSpec: {what}-delay cannot be negative")
    _not_negative(uc.monitor, f"TaskSpec: {what}-monitor cannot be negative")
    if not 0 <= uc.max_failure_ratio <= 1:
        raise InvalidArgument(
            f"TaskSpec: {what}-maxfailureratio cannot be less than 0 or bigger than 1"
        )
    _enum(
        uc.failure_action, types_pb2.UpdateConfig.FailureAction, f"TaskSpec: {what}-failure-action"
    )
    _enum(uc.order, types_pb2.UpdateConfig.Order, f"TaskSpec: {what}-order")


def check_placement(p: types_pb2.Placement, global_mode: bool) -> None:
    for expr in p.constraints:
        parse_constraint(expr)
    for pref in p.preferences:
        check_preference(pref)
    if global_mode and p.max_replicas_per_node:
        raise InvalidArgument("max replicas per node can only be used with replicated mode")


def check_healthcheck(hc: types_pb2.HealthConfig) -> None:
    if hc.test and hc.test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise InvalidArgument(
            f"ContainerSpec: healthcheck test must start with NONE, CMD or CMD-SHELL, "
            f"not {hc.test[0]!r}"
        )
    durations = {
        "Interval": hc.interval,
        "Timeout": hc.timeout,
        "StartPeriod": hc.start_period,
        "StartInterval": hc.start_interval,
    }
    for name, d in durations.items():
        ns = _ns(d)
        if ns < 0 or (ns and ns < _MIN_HEALTH_DURATION_NS):
            raise InvalidArgument(f"ContainerSpec: {name} in HealthConfig cannot be less than 1ms")
    if hc.retries < 0:
        raise InvalidArgument("ContainerSpec: Retries in HealthConfig cannot be negative")


def check_mounts(mounts: Iterable[types_pb2.Mount]) -> None:
    seen: set[str] = set()
    for m in mounts:
        _enum(m.type, types_pb2.Mount.Type, "ContainerSpec: mount type")
        if not m.target.startswith("/"):
            raise InvalidArgument(
                f"ContainerSpec: invalid mount target, must be an absolute path: {m.target!r}"
            )
        if m.target in seen:
            raise InvalidArgument(f"ContainerSpec: duplicate mount point: {m.target}")
        seen.add(m.target)
        if m.type == types_pb2.Mount.BIND and not m.source.startswith("/"):
            raise InvalidArgument(
                f"ContainerSpec: invalid bind mount source, must be an absolute path: {m.source!r}"
            )
        if m.type == types_pb2.Mount.TMPFS and m.source:
            raise InvalidArgument("ContainerSpec: invalid tmpfs source, source must be empty")
        if m.type != types_pb2.Mount.TMPFS and (m.tmpfs_size_bytes or m.tmpfs_mode):
            raise InvalidArgument("ContainerSpec: tmpfs options are only for tmpfs mounts")
        if m.tmpfs_size_bytes < 0:
            raise InvalidArgument("ContainerSpec: tmpfs size cannot be negative")


def check_container(c: specs_pb2.ContainerSpec) -> None:
    if not c.image:
        raise InvalidArgument("ContainerSpec: image reference must be provided")
    if try_parse(c.image) is None:
        raise InvalidArgument(f"ContainerSpec: {c.image!r} is not a valid repository/tag")
    for env in c.env:
        if not env or env.startswith("="):
            raise InvalidArgument(f"ContainerSpec: invalid environment variable: {env!r}")
    _not_negative(c.stop_grace_period, "ContainerSpec: stop-grace-period cannot be negative")
    check_healthcheck(c.healthcheck)
    check_mounts(c.mounts)
    targets: dict[str, str] = {}
    for kind, refs in (("secret", c.secrets), ("config", c.configs)):
        for ref in refs:
            name = getattr(ref, f"{kind}_name") or getattr(ref, f"{kind}_id")
            if not name:
                raise InvalidArgument(f"malformed {kind} reference: no {kind} id or name")
            target = ref.file.name or name
            if target in targets:
                raise InvalidArgument(
                    f"{kind} references '{targets[target]}' and '{name}' have a conflicting "
                    f"target: '{target}'"
                )
            targets[target] = name


def check_endpoint(ep: specs_pb2.EndpointSpec) -> None:
    _enum(ep.mode, specs_pb2.EndpointSpec.ResolutionMode, "EndpointSpec: mode")
    seen: set[tuple[int, int]] = set()
    for p in ep.ports:
        _enum(p.protocol, types_pb2.PortConfig.Protocol, "EndpointSpec: protocol")
        _enum(p.publish_mode, types_pb2.PortConfig.PublishMode, "EndpointSpec: publish mode")
        if not 0 < p.target_port <= 65535:
            raise InvalidArgument(
                f"EndpointSpec: target port {p.target_port} must be between 1 and 65535"
            )
        if p.published_port > 65535:
            raise InvalidArgument(
                f"EndpointSpec: published port {p.published_port} must be at most 65535"
            )
        if (
            ep.mode == specs_pb2.EndpointSpec.DNSRR
            and p.publish_mode == types_pb2.PortConfig.INGRESS
        ):
            raise InvalidArgument(
                "EndpointSpec: port published with ingress mode can't be used with dnsrr mode"
            )
        if not p.published_port:
            continue
        key = (p.published_port, p.protocol)
        if key in seen:
            raise InvalidArgument("EndpointSpec: duplicate published ports provided")
        seen.add(key)


def normalize_service_spec(spec: specs_pb2.ServiceSpec) -> None:
    """Fill what Docker fills: a spec without a mode is replicated with one replica."""
    if spec.WhichOneof("mode") is None:
        spec.replicated.replicas = 1


def check_service_spec(spec: specs_pb2.ServiceSpec) -> None:
    """Refuse a service spec that is invalid in itself (see the module's docstring)."""
    check_dns_name(spec.annotations.name)
    task = spec.task
    if not task.HasField("container"):
        raise InvalidArgument("ContainerSpec: missing in service spec")
    check_resources(task.resources.limits)
    check_resources(task.resources.reservations)
    check_restart(task.restart)
    check_placement(task.placement, spec.WhichOneof("mode") == "global")
    check_container(task.container)
    check_update_config(spec.update, "update")
    check_update_config(spec.rollback, "rollback")
    check_endpoint(spec.endpoint)
    for na in [*task.networks, *spec.networks]:
        if not na.target:
            raise InvalidArgument("network attachment target must be provided")
