"""Cluster commands (`shoal cluster ...`, alias `shoal swarm ...`): init, join, leave, ...

Requests are the Engine API's Swarm routes, as the docker CLI sends them:

    init        POST /swarm/init {ListenAddr, AdvertiseAddr, ForceNewCluster, Availability,
                Spec, EtcdEndpoints (shoal's extension)} -> the node id (a JSON string);
                then GET /nodes/{id} (ManagerStatus.Addr; GET /info's RemoteManagers if
                it is not there yet) and GET /swarm for the join hint
    join        POST /swarm/join {ListenAddr, AdvertiseAddr, RemoteAddrs, JoinToken,
                Availability}; then GET /info (manager or worker?)
    leave       POST /swarm/leave[?force=1]
    inspect     GET /swarm
    join-token  GET /swarm; --rotate: POST /swarm/update?version=V&rotateWorkerToken=true...
                with the current spec; GET /info, GET /nodes/{self} for the address
    update      GET /swarm, POST /swarm/update?version=V&rotate...=false with the changed spec
"""

from __future__ import annotations

from ..durations import parse_duration
from ..errors import CLIError
from ..flags import Command, Flag
from . import parse
from .containers import print_inspect

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..context import Context
    from ..flags import Options

DEFAULT_PORT = 4242
DEFAULT_LISTEN = f"0.0.0.0:{DEFAULT_PORT}"
INIT_WAIT = 2.0  # seconds `init` waits for the new node to show its manager address
_AVAILABILITY = ("active", "pause", "drain")


def _availability(value: str) -> str:
    if value.lower() not in _AVAILABILITY:
        raise ValueError(f"invalid availability {value!r}: active, pause or drain")
    return value.lower()


def _endpoints(value: str) -> list[str]:
    urls = [u.strip() for u in value.split(",") if u.strip()]
    for url in urls:
        if "://" not in url:
            raise ValueError(f"invalid etcd endpoint {url!r}: expected http(s)://HOST:PORT")
    return urls


_SPEC_FLAGS = [
    Flag("task-history-limit", "", "int", "Task history retention limit", default=5),
    Flag("dispatcher-heartbeat", "", "string", "Dispatcher heartbeat period (ns|us|ms|s|m|h)",
         default="5s", conv=parse_duration, metavar="duration"),
    Flag("cert-expiry", "", "string", "Validity period for node certificates (ns|us|ms|s|m|h)",
         default="2160h0m0s", conv=parse_duration, metavar="duration"),
]


def _merge_spec(spec: dict[str, Any], opts: Options) -> dict[str, Any]:
    """Set the spec fields whose flags were given (docker's mergeSwarmSpec)."""
    if "task_history_limit" in opts.changed:
        spec.setdefault("Orchestration", {})["TaskHistoryRetentionLimit"] = \
            opts.task_history_limit
    if "dispatcher_heartbeat" in opts.changed:
        spec.setdefault("Dispatcher", {})["HeartbeatPeriod"] = opts.dispatcher_heartbeat
    if "cert_expiry" in opts.changed:
        spec.setdefault("CAConfig", {})["NodeCertExpiry"] = opts.cert_expiry
    return spec


INIT = Command("{prog} [OPTIONS]", "Initialize a cluster", [
    Flag("advertise-addr", "", "string", "Advertised address (format: <ip|interface>[:port])"),
    Flag("listen-addr", "", "string", "Listen address (format: <ip|interface>[:port])",
         default=DEFAULT_LISTEN, metavar="node-addr"),
    Flag("etcd-endpoints", "", "string",
         "Use these etcd endpoints (http://HOST:PORT,...) instead of an embedded etcd",
         conv=_endpoints, metavar="urls"),
    Flag("availability", "", "string", 'Availability of the node ("active", "pause", "drain")',
         default="active", conv=_availability),
    Flag("force-new-cluster", "", "bool", "Force create a new cluster from current state"),
    *_SPEC_FLAGS,
], max_args=0)


def init(ctx: Context, argv: list[str]) -> int:
    """Make this daemon the first manager of a new cluster and print how to join it."""
    parsed = parse(INIT, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    body: dict[str, Any] = {
        "ListenAddr": opts.listen_addr, "AdvertiseAddr": opts.advertise_addr,
        "ForceNewCluster": opts.force_new_cluster, "Availability": opts.availability,
        "Spec": _merge_spec({}, opts),
    }
    if "etcd_endpoints" in opts.changed:
        body["EtcdEndpoints"] = opts.etcd_endpoints
    node_id = ctx.client.post("/swarm/init", body=body)
    ctx.out(f"Cluster initialized: current node ({node_id}) is now a manager.\n\n")
    _print_join_command(ctx, str(node_id), worker=True, manager=False, wait=INIT_WAIT)
    ctx.out("To add a manager to this cluster, run 'shoal cluster join-token manager' "
            "and follow the instructions.\n\n")
    return 0


def _manager_addr(ctx: Context, node_id: str, wait: float = 0.0) -> str:
    """Return this manager's address: its ManagerStatus, else /info's RemoteManagers.

    Right after init the node may not show its ManagerStatus yet: ``wait``
    gives it that many seconds.
    """
    import time

    deadline = time.monotonic() + wait
    while True:
        node = ctx.client.get(f"/nodes/{node_id}") or {}
        addr = str((node.get("ManagerStatus") or {}).get("Addr") or "")
        if addr or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if not addr:
        swarm = (ctx.client.get("/info") or {}).get("Swarm") or {}
        addr = next((str(m.get("Addr") or "") for m in swarm.get("RemoteManagers") or []
                     if m.get("NodeID") == node_id), "")
    return addr


def _print_join_command(ctx: Context, node_id: str, worker: bool, manager: bool,
                        wait: float = 0.0) -> None:
    addr = _manager_addr(ctx, node_id, wait)
    swarm = ctx.client.get("/swarm") or {}
    if not addr:
        return
    tokens = swarm.get("JoinTokens") or {}
    for role, wanted in (("worker", worker), ("manager", manager)):
        if wanted:
            token = tokens.get(role.capitalize(), "")
            ctx.out(f"To add a {role} to this cluster, run the following command:\n\n"
                    f"    shoal cluster join --token {token} {addr}\n\n")


JOIN = Command("{prog} [OPTIONS] HOST:PORT", "Join a cluster as a node and/or manager", [
    Flag("token", "", "string", "Token for entry into the cluster"),
    Flag("advertise-addr", "", "string", "Advertised address (format: <ip|interface>[:port])"),
    Flag("listen-addr", "", "string", "Listen address (format: <ip|interface>[:port])",
         default=DEFAULT_LISTEN, metavar="node-addr"),
    Flag("availability", "", "string", 'Availability of the node ("active", "pause", "drain")',
         default="active", conv=_availability),
], min_args=1, max_args=1)


def join(ctx: Context, argv: list[str]) -> int:
    """Join the cluster a manager at HOST:PORT belongs to, with a worker or manager token."""
    parsed = parse(JOIN, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    if not opts.token:
        raise CLIError("a join token is required: shoal cluster join --token TOKEN HOST:PORT")
    remote = args[0] if ":" in args[0] else f"{args[0]}:{DEFAULT_PORT}"
    ctx.client.request("POST", "/swarm/join", body={
        "ListenAddr": opts.listen_addr, "AdvertiseAddr": opts.advertise_addr,
        "RemoteAddrs": [remote], "JoinToken": opts.token, "Availability": opts.availability,
    }).read()
    info = (ctx.client.get("/info") or {}).get("Swarm") or {}
    role = "manager" if info.get("ControlAvailable") else "worker"
    ctx.out(f"This node joined a cluster as a {role}.\n")
    return 0


LEAVE = Command("{prog} [OPTIONS]", "Leave the cluster", [
    Flag("force", "f", "bool", "Force this node to leave the cluster, ignoring warnings"),
], max_args=0)


def leave(ctx: Context, argv: list[str]) -> int:
    """Leave the cluster: POST /swarm/leave?force=1."""
    parsed = parse(LEAVE, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    ctx.client.request("POST", "/swarm/leave", {"force": "1" if opts.force else None}).read()
    ctx.out("Node left the cluster.\n")
    return 0


INSPECT = Command("{prog} [OPTIONS]", "Display detailed information on the cluster", [
    Flag("format", "f", "string", "Format output using a custom template"),
], max_args=0)


def inspect(ctx: Context, argv: list[str]) -> int:
    """Print the cluster object (GET /swarm) as JSON or through a template."""
    parsed = parse(INSPECT, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    print_inspect(ctx, [ctx.client.get("/swarm")], opts.format)
    return 0


JOIN_TOKEN = Command("{prog} [OPTIONS] (worker|manager)", "Manage join tokens", [
    Flag("quiet", "q", "bool", "Only display token"),
    Flag("rotate", "", "bool", "Rotate join token"),
], min_args=1, max_args=1)


def _update_query(version: object, worker: bool = False, manager: bool = False) -> dict[str, Any]:
    return {"version": str(version), "rotateWorkerToken": "true" if worker else "false",
            "rotateManagerToken": "true" if manager else "false",
            "rotateManagerUnlockKey": "false"}


def join_token(ctx: Context, argv: list[str]) -> int:
    """Print (and with --rotate, first replace) the worker or manager join token."""
    parsed = parse(JOIN_TOKEN, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    role = args[0]
    if role not in ("worker", "manager"):
        raise CLIError(f"unknown role {role}")
    client = ctx.client
    swarm = client.get("/swarm") or {}
    if opts.rotate:
        version = (swarm.get("Version") or {}).get("Index", 0)
        client.request("POST", "/swarm/update",
                       _update_query(version, role == "worker", role == "manager"),
                       body=swarm.get("Spec") or {}).read()
        if not opts.quiet:
            ctx.out(f"Successfully rotated {role} join token.\n\n")
        swarm = client.get("/swarm") or {}  # the tokens changed
    if opts.quiet:
        ctx.out((swarm.get("JoinTokens") or {}).get(role.capitalize(), "") + "\n")
        return 0
    from .swarm_api import self_node_id

    _print_join_command(ctx, self_node_id(ctx), role == "worker", role == "manager")
    return 0


UPDATE = Command("{prog} [OPTIONS]", "Update the cluster", _SPEC_FLAGS, max_args=0)


def update(ctx: Context, argv: list[str]) -> int:
    """Change cluster settings: GET /swarm, then POST /swarm/update with the changed spec."""
    parsed = parse(UPDATE, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    client = ctx.client
    swarm = client.get("/swarm") or {}
    spec = _merge_spec(dict(swarm.get("Spec") or {}), opts)
    version = (swarm.get("Version") or {}).get("Index", 0)
    client.request("POST", "/swarm/update", _update_query(version), body=spec).read()
    ctx.out("Cluster updated.\n")
    return 0
