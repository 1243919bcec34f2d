"""`shoal run` and `shoal create`: build the container config, create, attach, start, wait.

The request flow is docker's (cli/command/container/run.go):

    POST /containers/create?name=N             (404 "No such image" -> pull, retry)
    POST /containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1   (hijacked, 101)
    POST /containers/{id}/wait?condition=next-exit|removed             (own connection,
                                                                        answer read last)
    POST /containers/{id}/start
    POST /containers/{id}/resize?h=&w=         (tty on a terminal; again on SIGWINCH)
    ... stream output until the daemon closes the attach stream ...
    exit with the wait answer's StatusCode

``-d`` skips attach and wait and prints the full id.
"""

from __future__ import annotations

import sys

from .. import opts as o
from ..errors import APIError, CLIError, StatusError
from ..flags import Command, Flag
from . import parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..context import Context
    from ..flags import Options


def _lazy(module: str, func: str) -> Callable[[str], Any]:
    """Return a flag converter that imports shoal.cli.<module> only when the flag is used."""

    def conv(value: str) -> Any:
        return getattr(__import__(f"shoal.cli.{module}", fromlist=[func]), func)(value)

    return conv


def _attach_stream(value: str) -> str:
    v = value.lower()
    if v not in ("stdin", "stdout", "stderr"):
        raise ValueError("valid streams are STDIN, STDOUT and STDERR")
    return v


def _swap(value: str) -> int:
    return -1 if value == "-1" else o.parse_size(value)


def _pull_policy(value: str) -> str:
    if value not in ("always", "missing", "never"):
        raise ValueError(f'invalid pull option: \'{value}\': must be one of "always", '
                         '"missing" or "never"')
    return value


CONTAINER_FLAGS = [
    Flag("attach", "a", "list", "Attach to STDIN, STDOUT or STDERR", conv=_attach_stream),
    Flag("add-host", "", "list", "Add a custom host-to-IP mapping (host:ip)",
         conv=_lazy("netopts", "validate_extra_host")),
    Flag("cap-add", "", "list", "Add Linux capabilities"),
    Flag("cap-drop", "", "list", "Drop Linux capabilities"),
    Flag("cpu-shares", "c", "int", "CPU shares (relative weight)"),
    Flag("cpus", "", "string", "Number of CPUs", conv=o.parse_cpus, metavar="decimal"),
    Flag("dns", "", "list", "Set custom DNS servers", conv=_lazy("netopts", "validate_dns")),
    Flag("dns-option", "", "list", "Set DNS options", aliases=("dns-opt",)),
    Flag("dns-search", "", "list", "Set custom DNS search domains",
         conv=_lazy("netopts", "validate_dns_search")),
    Flag("entrypoint", "", "string", "Overwrite the default ENTRYPOINT of the image"),
    Flag("env", "e", "list", "Set environment variables", conv=o.parse_env),
    Flag("env-file", "", "list", "Read in a file of environment variables"),
    Flag("expose", "", "list", "Expose a port or a range of ports",
         conv=_lazy("ports", "parse_expose")),
    Flag("hostname", "h", "string", "Container host name"),
    Flag("init", "", "bool",
         "Run an init inside the container that forwards signals and reaps processes"),
    Flag("interactive", "i", "bool", "Keep STDIN open even if not attached"),
    Flag("ip", "", "string", "IPv4 address (e.g., 172.30.100.104)",
         conv=_lazy("netopts", "parse_ipv4")),
    Flag("label", "l", "list", "Set meta data on a container"),
    Flag("label-file", "", "list", "Read in a line delimited file of labels"),
    Flag("memory", "m", "string", "Memory limit", conv=o.parse_size, metavar="bytes"),
    Flag("memory-swap", "", "string",
         "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
         conv=_swap, metavar="bytes"),
    Flag("mount", "", "list", "Attach a filesystem mount to the container",
         conv=_lazy("mounts", "parse_mount"), metavar="mount"),
    Flag("name", "", "string", "Assign a name to the container"),
    Flag("network", "", "list", "Connect a container to a network",
         conv=_lazy("netopts", "parse_network"), metavar="network", aliases=("net",)),
    Flag("network-alias", "", "list", "Add network-scoped alias for the container",
         aliases=("net-alias",)),
    Flag("pids-limit", "", "int", "Tune container pids limit (set -1 for unlimited)"),
    Flag("platform", "", "string", "Set platform if server is multi-platform capable"),
    Flag("privileged", "", "bool", "Give extended privileges to this container"),
    Flag("publish", "p", "list", "Publish a container's port(s) to the host",
         conv=_lazy("ports", "parse_publish")),
    Flag("publish-all", "P", "bool", "Publish all exposed ports to random ports"),
    Flag("pull", "", "string", 'Pull image before running ("always", "missing", "never")',
         default="missing", conv=_pull_policy),
    Flag("quiet", "q", "bool", "Suppress the pull output"),
    Flag("read-only", "", "bool", "Mount the container's root filesystem as read only"),
    Flag("restart", "", "string", "Restart policy to apply when a container exits",
         default="no"),
    Flag("rm", "", "bool", "Automatically remove the container and its associated "
         "anonymous volumes when it exits"),
    Flag("shm-size", "", "string", "Size of /dev/shm", conv=o.parse_size, metavar="bytes"),
    Flag("stop-signal", "", "string", "Signal to stop the container"),
    Flag("stop-timeout", "", "int", "Timeout (in seconds) to stop a container"),
    Flag("tmpfs", "", "list", "Mount a tmpfs directory", conv=_lazy("mounts", "parse_tmpfs")),
    Flag("tty", "t", "bool", "Allocate a pseudo-TTY"),
    Flag("user", "u", "string", 'Username or UID (format: "<name|uid>[:<group|gid>]")'),
    Flag("volume", "v", "list", "Bind mount a volume", conv=_lazy("mounts", "parse_volume")),
    Flag("workdir", "w", "string", "Working directory inside the container"),
]

RUN = Command(
    "{prog} [OPTIONS] IMAGE [COMMAND] [ARG...]",
    "Create and run a new container from an image",
    [*CONTAINER_FLAGS,
     Flag("detach", "d", "bool", "Run container in background and print container ID"),
     Flag("detach-keys", "", "string", "Override the key sequence for detaching a container"),
     Flag("sig-proxy", "", "bool", "Proxy received signals to the process", default=True)],
    min_args=1, interspersed=False)

CREATE = Command("{prog} [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container",
                 CONTAINER_FLAGS, min_args=1, interspersed=False)


def build_config(opts: Options, args: list[str], stdout_fd: int = 1
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (query params, JSON body) of POST /containers/create for the parsed flags."""
    env = o.read_env(opts.env_file, opts.env)
    labels = o.parse_labels(opts.label_file, opts.label)
    attach = set(opts.attach)
    stdin = "stdin" in attach or opts.interactive
    stdout = not attach or "stdout" in attach
    stderr = not attach or "stderr" in attach
    restart = o.parse_restart(opts.restart)
    if opts.rm and restart["Name"] not in ("no", ""):
        raise ValueError("conflicting options: cannot specify both --restart and --rm")
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for mappings in opts.publish:
        for key, binding in mappings:
            exposed[key] = {}
            bindings.setdefault(key, []).append(binding)
    for keys in opts.expose:
        for key in keys:
            exposed.setdefault(key, {})
    binds: list[str] = []
    volumes: dict[str, dict[str, Any]] = {}
    for bind, target in opts.volume:
        if bind is None:
            volumes[target] = {}
        else:
            binds.append(bind)
    endpoints: dict[str, Any] = {}
    if opts.network or opts.network_alias or opts.ip:
        from ..netopts import endpoints_config

        endpoints = endpoints_config(opts.network, opts.network_alias, opts.ip)
    config: dict[str, Any] = {
        "Hostname": opts.hostname, "Domainname": "", "User": opts.user,
        "AttachStdin": stdin, "AttachStdout": stdout, "AttachStderr": stderr,
        "Tty": opts.tty, "OpenStdin": opts.interactive,
        "StdinOnce": bool(opts.interactive and stdin),
        "Env": env, "Cmd": args[1:] or None, "Image": args[0], "Volumes": volumes,
        "WorkingDir": opts.workdir,
        "Entrypoint": [opts.entrypoint] if "entrypoint" in opts.changed else None,
        "OnBuild": None, "Labels": labels,
    }
    if exposed:
        config["ExposedPorts"] = exposed
    if opts.stop_signal:
        config["StopSignal"] = opts.stop_signal
    if "stop_timeout" in opts.changed:
        config["StopTimeout"] = opts.stop_timeout
    host: dict[str, Any] = {
        "Binds": binds or None,
        "NetworkMode": opts.network[0]["Target"] if opts.network else "default",
        "PortBindings": bindings,
        "PublishAllPorts": opts.publish_all,
        "RestartPolicy": restart,
        "AutoRemove": opts.rm,
        "CapAdd": opts.cap_add or None,
        "CapDrop": opts.cap_drop or None,
        "Dns": opts.dns,
        "DnsOptions": opts.dns_option,
        "DnsSearch": opts.dns_search,
        "ExtraHosts": opts.add_host or None,
        "Privileged": opts.privileged,
        "ReadonlyRootfs": opts.read_only,
        "ShmSize": opts.shm_size or 0,
        "Memory": opts.memory or 0,
        "MemorySwap": opts.memory_swap or 0,
        "NanoCpus": opts.cpus or 0,
        "CpuShares": opts.cpu_shares or 0,
        "PidsLimit": opts.pids_limit if "pids_limit" in opts.changed else None,
    }
    if opts.tmpfs:
        host["Tmpfs"] = dict(opts.tmpfs)
    if opts.mount:
        host["Mounts"] = opts.mount
    if opts.init:
        host["Init"] = True
    if opts.tty:
        from ..streams import terminal_size

        host["ConsoleSize"] = list(terminal_size(stdout_fd) or (0, 0))
    body = {**config, "HostConfig": host, "NetworkingConfig": {"EndpointsConfig": endpoints}}
    params = {"name": opts.name or None, "platform": opts.platform or None}
    return params, body


def report_error(ctx: Context, name: str, message: str, with_help: bool) -> None:
    """Print a run/create failure as docker does: "shoal: MSG.\\nSee 'shoal run --help'."."""
    text = message.rstrip(".") + "."
    if with_help:
        text += f"\nSee '{ctx.path} --help'."
    ctx.err(f"shoal: {text}\n")


def start_error_code(message: str) -> int:
    """Return docker run's exit code for a failed start: 127 not found, 126 not runnable."""
    if ("executable file not found" in message or "no such file or directory" in message
            or "system cannot find the file specified" in message):
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def familiar(ref: str) -> str:
    """Return ref with its implied tag: ``busybox`` -> ``busybox:latest``."""
    name, tag = o.split_reference(ref)
    return f"{name}@{tag}" if "@" in ref else f"{name}:{tag}"


def create_container(ctx: Context, opts: Options, params: dict[str, Any],
                     body: dict[str, Any], meanwhile: Any = None) -> str:
    """POST /containers/create, pulling the image first when missing (per --pull).

    ``meanwhile()`` runs while the daemon works on the request (run uses it to
    import what attaching needs, overlapping that with the daemon's work).
    """
    client = ctx.client
    image = body["Image"]
    if opts.pull == "always":
        from .images import pull_image

        pull_image(ctx, image, quiet=opts.quiet, to_stderr=True)
    try:
        client.send("POST", "/containers/create", params, body)
        if meanwhile is not None:
            meanwhile()
        resp = client.get_response("POST").json()
    except APIError as exc:
        if exc.status != 404 or opts.pull == "never" or "image" not in exc.message.lower():
            raise
        from .images import pull_image

        ctx.err(f"Unable to find image '{familiar(image)}' locally\n")
        pull_image(ctx, image, quiet=opts.quiet, to_stderr=True)
        resp = client.post("/containers/create", params, body)
    for warning in (resp or {}).get("Warnings") or ():
        ctx.err(f"WARNING: {warning}\n")
    return str(resp["Id"])


def _parse_and_build(spec: Command, ctx: Context, argv: list[str]
                     ) -> tuple[Options, dict[str, Any], dict[str, Any]] | None:
    parsed = parse(spec, ctx, argv)
    if parsed is None:
        return None
    opts, args = parsed
    try:
        params, body = build_config(opts, args)
    except ValueError as exc:
        report_error(ctx, ctx.path, str(exc), True)
        raise StatusError(125) from None
    return opts, params, body


def create(ctx: Context, argv: list[str]) -> int:
    """Create a container and print its id."""
    built = _parse_and_build(CREATE, ctx, argv)
    if built is None:
        return 0
    opts, params, body = built
    try:
        cid = create_container(ctx, opts, params, body)
    except CLIError as exc:
        report_error(ctx, "create", str(exc), True)
        return 125
    ctx.out(cid + "\n")
    return 0


def run(ctx: Context, argv: list[str]) -> int:
    """Create, attach to, start and wait for a container (or start it detached)."""
    from ..streams import isatty

    built = _parse_and_build(RUN, ctx, argv)
    if built is None:
        return 0
    opts, params, body = built
    if opts.detach:
        if opts.attach:
            raise CLIError("Conflicting options: -a and -d")
        body.update(AttachStdin=False, AttachStdout=False, AttachStderr=False,
                    StdinOnce=False)
    elif body["AttachStdin"] and body["Tty"] and not isatty(ctx.stdin_fd):
        raise CLIError("the input device is not a TTY")
    escape = None
    if opts.detach_keys:
        from ..streams import parse_detach_keys

        try:
            escape = parse_detach_keys(opts.detach_keys)
        except ValueError as exc:
            report_error(ctx, "run", str(exc), True)
            return 125
    try:
        cid = create_container(ctx, opts, params, body,
                               None if opts.detach else _import_session_modules)
    except CLIError as exc:
        report_error(ctx, "run", str(exc), True)
        return 125
    stdin, stdout, stderr = body["AttachStdin"], body["AttachStdout"], body["AttachStderr"]
    if not stdout and not stderr:
        ctx.out(cid + "\n")
        ctx.out_bytes().flush()
    if opts.detach:
        try:
            ctx.client.request("POST", f"/containers/{cid}/start").read()
        except CLIError as exc:
            report_error(ctx, "run", str(exc), False)
            return start_error_code(str(exc))
        return 0

    def start_failed(exc: CLIError) -> int:
        report_error(ctx, "run", str(exc), False)
        return start_error_code(str(exc))

    return run_attached(ctx, cid, tty=body["Tty"], stdin=stdin, stdout=stdout, stderr=stderr,
                        auto_remove=opts.rm, sig_proxy=opts.sig_proxy,
                        on_start_error=start_failed, escape=escape)


def _import_session_modules() -> None:
    from .. import streams  # noqa: F401
    if "signal" not in sys.modules:
        import signal  # noqa: F401


def run_attached(ctx: Context, cid: str, *, tty: bool, stdin: bool, stdout: bool,
                 stderr: bool, auto_remove: bool, sig_proxy: bool,
                 on_start_error: Any, escape: bytes | None = None) -> int:
    """Attach, register the wait, start, stream, and return the container's exit code.

    ``on_start_error(exc) -> int`` reports a failed start and returns the exit code.
    """
    from ..streams import DEFAULT_ESCAPE, forward_signals

    client = ctx.client
    undo_signals = None
    if sig_proxy:
        # A fresh connection per signal: the handler may interrupt itself.
        def kill(sig: str) -> None:
            killer = client.clone()
            try:
                killer.request("POST", f"/containers/{cid}/kill", {"signal": sig}).read()
            finally:
                killer.close()

        undo_signals = forward_signals(kill)
    try:
        return _attach_start_wait(ctx, cid, tty, stdin, stdout, stderr, auto_remove,
                                  on_start_error, escape or DEFAULT_ESCAPE)
    finally:
        if undo_signals is not None:
            undo_signals()


def _attach_start_wait(ctx: Context, cid: str, tty: bool, stdin: bool, stdout: bool,
                       stderr: bool, auto_remove: bool, on_start_error: Any,
                       escape: bytes) -> int:
    from ..streams import Output, RawTerminal, isatty, monitor_tty_size, stream_session

    client = ctx.client
    hj = None
    if stdin or stdout or stderr:
        try:
            hj = client.hijack(f"/containers/{cid}/attach",
                               {"stream": True, "stdin": stdin or None,
                                "stdout": stdout or None, "stderr": stderr or None})
        except CLIError as exc:
            raise StatusError(125, str(exc)) from None
    waiter = client.clone()
    waiter.send("POST", f"/containers/{cid}/wait",
                {"condition": "removed" if auto_remove else "next-exit"})
    waiter.peek_response("POST")
    raw = None
    if hj is not None and tty and stdin and isatty(ctx.stdin_fd):
        raw = RawTerminal(ctx.stdin_fd).__enter__()
    try:
        try:
            client.request("POST", f"/containers/{cid}/start").read()
        except CLIError as exc:
            if hj is not None:
                hj.close()
            if raw is not None:
                raw.restore()
            code = int(on_start_error(exc))
            if auto_remove:
                _wait_status(ctx, waiter, quiet=True)
            return code
        if hj is not None and tty and isatty(1):
            monitor_tty_size(resizer(client, f"/containers/{cid}/resize"), 1)
        if hj is not None:
            session = stream_session(
                hj, tty, ctx.stdin_fd if stdin else None,
                Output(ctx.out_bytes(), ctx.err_bytes()),
                on_output_end=raw.restore if raw is not None else None,
                escape=escape)
            if session.detached:
                return 0
        return _wait_status(ctx, waiter)
    finally:
        if raw is not None:
            raw.restore()


def resizer(client: Any, path: str) -> Any:
    """Return resize(h, w) posting to path on a fresh connection (SIGWINCH may nest)."""

    def resize(h: int, w: int) -> None:
        conn = client.clone()
        try:
            conn.request("POST", path, {"h": h, "w": w}).read()
        finally:
            conn.close()

    return resize


def _wait_status(ctx: Context, waiter: Any, quiet: bool = False) -> int:
    """Read the answer of the wait registered before start: the exit code (125 on error)."""
    try:
        # The first JSON document is the answer: don't wait for the end of the body.
        doc = next(iter(waiter.get_response("POST").iter_json()), None) or {}
    except CLIError as exc:
        if not quiet:
            ctx.err(f"error waiting for container: {exc}\n")
        return 125
    finally:
        waiter.close()
    err = doc.get("Error")
    if isinstance(err, dict) and err.get("Message"):
        if not quiet:
            ctx.err(f"Error waiting for container: {err['Message']}\n")
        return 125
    return int(doc.get("StatusCode", 0))
