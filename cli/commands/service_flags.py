"""The flags of `service create` and `service update` (docker's names and value syntax).

Values are converted as they are parsed (durations to nanoseconds, CPUs to
NanoCPUs, sizes to bytes, ports to PortConfigs), so a bad one fails with
docker's ``invalid argument "x" for "--flag" flag: ...``; service_spec.py
turns the parsed options into a ServiceSpec.
"""

from __future__ import annotations

from ..durations import parse_duration
from ..flags import Flag
from ..opts import parse_cpus, parse_env, parse_size, split_csv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any



def choice(*allowed: str) -> Callable[[str], str]:
    def conv(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value
    return conv


def _uint(value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f'strconv.ParseUint: parsing "{value}": invalid syntax')
    return int(value)


def _ratio(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{value}": invalid syntax') from None


def _placement_pref(value: str) -> dict[str, Any]:
    strategy, eq, arg = value.partition("=")
    if not eq or not arg:
        raise ValueError('placement preference must be of the format "<strategy>=<arg>"')
    if strategy.lower() != "spread":
        raise ValueError(f"unsupported placement preference {strategy} (only spread is "
                         "supported)")
    return {"Spread": {"SpreadDescriptor": arg}}


def _network(value: str) -> dict[str, Any]:
    """Parse ``NAME`` or ``name=NAME,alias=A,driver-opt=k=v`` into a NetworkAttachmentConfig."""
    if "=" not in value:
        return {"Target": value}
    att: dict[str, Any] = {"Target": ""}
    for field in split_csv(value):
        key, eq, val = field.partition("=")
        key = key.strip().lower()
        if not eq:
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        if key in ("name", "target"):
            att["Target"] = val
        elif key == "alias":
            att.setdefault("Aliases", []).append(val)
        elif key == "driver-opt":
            k, _, v = val.partition("=")
            att.setdefault("DriverOpts", {})[k] = v
        else:
            raise ValueError(f"invalid field key {key}")
    if not att["Target"]:
        raise ValueError("network name/id is not specified")
    return att


def _publish(value: str) -> list[dict[str, Any]]:
    from ..portconfig import parse_publish

    return parse_publish(value)


def _mount(value: str) -> dict[str, Any]:
    from ..mounts import parse_mount

    return parse_mount(value)


_DUR: dict[str, Any] = {"conv": parse_duration, "metavar": "duration"}

# Flags of both create and update.
COMMON = [
    Flag("detach", "d", "bool",
         "Exit immediately instead of waiting for the service to converge"),
    Flag("quiet", "q", "bool", "Suppress progress output"),
    Flag("with-registry-auth", "", "bool",
         "Send registry authentication details to cluster agents"),
    Flag("resolve-image", "", "string",
         'Query the registry to resolve image digest ("always", "changed", "never"; '
         "default: new or changed images that name a registry host)",
         conv=choice("always", "changed", "never"), metavar="string"),
    Flag("replicas", "", "string", "Number of tasks", conv=_uint, metavar="uint"),
    Flag("replicas-max-per-node", "", "string",
         "Maximum number of tasks per node (default 0 = unlimited)", conv=_uint, metavar="uint"),
    Flag("reserve-cpu", "", "string", "Reserve CPUs", conv=parse_cpus, metavar="decimal"),
    Flag("reserve-memory", "", "string", "Reserve Memory", conv=parse_size, metavar="bytes"),
    Flag("limit-cpu", "", "string", "Limit CPUs", conv=parse_cpus, metavar="decimal"),
    Flag("limit-memory", "", "string", "Limit Memory", conv=parse_size, metavar="bytes"),
    Flag("restart-condition", "", "string",
         'Restart when condition is met ("none", "on-failure", "any")',
         conv=choice("none", "on-failure", "any"), metavar="string"),
    Flag("restart-delay", "", "string", "Delay between restart attempts (ns|us|ms|s|m|h)",
         **_DUR),
    Flag("restart-max-attempts", "", "string", "Maximum number of restarts before giving up",
         conv=_uint, metavar="uint"),
    Flag("restart-window", "", "string", "Window used to evaluate the restart policy "
         "(ns|us|ms|s|m|h)", **_DUR),
    Flag("update-parallelism", "", "string",
         "Maximum number of tasks updated simultaneously (0 to update all at once)",
         conv=_uint, metavar="uint", default="1"),
    Flag("update-delay", "", "string", "Delay between updates (ns|us|ms|s|m|h)", **_DUR,
         default="0s"),
    Flag("update-failure-action", "", "string",
         'Action on update failure ("pause", "continue", "rollback")',
         conv=choice("pause", "continue", "rollback"), default="pause"),
    Flag("update-monitor", "", "string",
         "Duration after each task update to monitor for failure (ns|us|ms|s|m|h)", **_DUR),
    Flag("update-max-failure-ratio", "", "string", "Failure rate to tolerate during an update",
         conv=_ratio, metavar="float"),
    Flag("update-order", "", "string",
         'Update order ("start-first", "stop-first")',
         conv=choice("start-first", "stop-first"), default="stop-first"),
    Flag("rollback-parallelism", "", "string",
         "Maximum number of tasks rolled back simultaneously (0 to roll back all at once)",
         conv=_uint, metavar="uint", default="1"),
    Flag("rollback-delay", "", "string", "Delay between task rollbacks (ns|us|ms|s|m|h)",
         **_DUR, default="0s"),
    Flag("rollback-failure-action", "", "string",
         'Action on rollback failure ("pause", "continue")',
         conv=choice("pause", "continue"), default="pause"),
    Flag("rollback-monitor", "", "string",
         "Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h)", **_DUR),
    Flag("rollback-max-failure-ratio", "", "string",
         "Failure rate to tolerate during a rollback", conv=_ratio, metavar="float"),
    Flag("rollback-order", "", "string", 'Rollback order ("start-first", "stop-first")',
         conv=choice("start-first", "stop-first"), default="stop-first"),
    Flag("health-cmd", "", "string", "Command to run to check health"),
    Flag("health-interval", "", "string", "Time between running the check (ms|s|m|h)", **_DUR),
    Flag("health-timeout", "", "string", "Maximum time to allow one check to run (ms|s|m|h)",
         **_DUR),
    Flag("health-retries", "", "int", "Consecutive failures needed to report unhealthy"),
    Flag("health-start-period", "", "string", "Start period for the container to initialize "
         "before counting retries towards unstable (ms|s|m|h)", **_DUR),
    Flag("no-healthcheck", "", "bool", "Disable any container-specified HEALTHCHECK"),
    Flag("workdir", "w", "string", "Working directory inside the container"),
    Flag("user", "u", "string", "Username or UID (format: <name|uid>[:<group|gid>])"),
    Flag("hostname", "", "string", "Container hostname"),
    Flag("entrypoint", "", "string", "Overwrite the default ENTRYPOINT of the image",
         metavar="command"),
    Flag("stop-signal", "", "string", "Signal to stop the container"),
    Flag("stop-grace-period", "", "string",
         "Time to wait before force killing a container (ns|us|ms|s|m|h)", **_DUR),
    Flag("tty", "t", "bool", "Allocate a pseudo-TTY"),
    Flag("read-only", "", "bool", "Mount the container's root filesystem as read only"),
    Flag("init", "", "bool",
         "Use an init inside each service container to forward signals and reap processes"),
]

CREATE_ONLY = [
    Flag("name", "", "string", "Service name"),
    Flag("mode", "", "string", 'Service mode ("replicated", "global")',
         conv=choice("replicated", "global"), default="replicated"),
    Flag("constraint", "", "list", "Placement constraints"),
    Flag("placement-pref", "", "list", "Add a placement preference (spread=node.labels.X)",
         conv=_placement_pref, metavar="pref"),
    Flag("env", "e", "list", "Set environment variables", conv=parse_env),
    Flag("env-file", "", "list", "Read in a file of environment variables"),
    Flag("label", "l", "list", "Service labels"),
    Flag("container-label", "", "list", "Container labels"),
    Flag("publish", "p", "list", "Publish a port as a node port", conv=_publish, metavar="port"),
    Flag("network", "", "list", "Network attachments", conv=_network, metavar="network"),
    Flag("mount", "", "list", "Attach a filesystem mount to the service", conv=_mount,
         metavar="mount"),
    Flag("endpoint-mode", "", "string", "Endpoint mode (vip or dnsrr)",
         conv=choice("vip", "dnsrr"), default="vip"),
]

UPDATE_ONLY = [
    Flag("image", "", "string", "Service image tag"),
    Flag("args", "", "string", "Service command args", metavar="command"),
    Flag("env-add", "", "list", "Add or update an environment variable", conv=parse_env),
    Flag("env-rm", "", "list", "Remove an environment variable"),
    Flag("label-add", "", "list", "Add or update a service label"),
    Flag("label-rm", "", "list", "Remove a label by its key"),
    Flag("container-label-add", "", "list", "Add or update a container label"),
    Flag("container-label-rm", "", "list", "Remove a container label by its key"),
    Flag("constraint-add", "", "list", "Add or update a placement constraint"),
    Flag("constraint-rm", "", "list", "Remove a constraint"),
    Flag("placement-pref-add", "", "list", "Add a placement preference",
         conv=_placement_pref, metavar="pref"),
    Flag("placement-pref-rm", "", "list", "Remove a placement preference",
         conv=_placement_pref, metavar="pref"),
    Flag("publish-add", "", "list", "Add or update a published port", conv=_publish,
         metavar="port"),
    Flag("publish-rm", "", "list", "Remove a published port by its target port",
         metavar="port"),
    Flag("network-add", "", "list", "Add a network", conv=_network, metavar="network"),
    Flag("network-rm", "", "list", "Remove a network"),
    Flag("mount-add", "", "list", "Add or update a mount on a service", conv=_mount,
         metavar="mount"),
    Flag("mount-rm", "", "list", "Remove a mount by its target path"),
    Flag("force", "", "bool", "Force update even if no changes require it"),
    Flag("rollback", "", "bool", "Rollback to previous specification"),
]
