"""`shoal exec` and `shoal attach`: sessions with a running container.

exec follows docker's flow (cli/command/container/exec.go):

    GET  /containers/{id}/json                 (a clear "No such container" first)
    POST /containers/{id}/exec                 {"AttachStdin", "Tty", "Cmd", ...} -> {"Id"}
    POST /exec/{id}/start  {"Detach": false, "Tty": t}   (hijacked, Upgrade: tcp -> 101)
    POST /exec/{id}/resize?h=&w=               (tty on a terminal; again on SIGWINCH)
    ... stream until the daemon closes ...
    GET  /exec/{id}/json                       -> exit with ExitCode

``-d`` sends ``{"Detach": true}`` to /exec/{id}/start (a plain request) and returns.
"""

from __future__ import annotations

from .. import opts as o
from ..errors import CLIError, StatusError
from ..flags import Command, Flag
from . import parse
from .run import resizer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..client import Client
    from ..context import Context

EXEC = Command("{prog} [OPTIONS] CONTAINER COMMAND [ARG...]",
               "Execute a command in a running container", [
                   Flag("detach", "d", "bool", "Detached mode: run command in the background"),
                   Flag("detach-keys", "", "string",
                        "Override the key sequence for detaching a container"),
                   Flag("env", "e", "list", "Set environment variables", conv=o.parse_env),
                   Flag("env-file", "", "list", "Read in a file of environment variables"),
                   Flag("interactive", "i", "bool", "Keep STDIN open even if not attached"),
                   Flag("privileged", "", "bool", "Give extended privileges to the command"),
                   Flag("tty", "t", "bool", "Allocate a pseudo-TTY"),
                   Flag("user", "u", "string",
                        'Username or UID (format: "<name|uid>[:<group|gid>]")'),
                   Flag("workdir", "w", "string", "Working directory inside the container"),
               ], min_args=2, interspersed=False)


def exec_(ctx: Context, argv: list[str]) -> int:
    """Run a command in a running container and exit with its exit code."""
    from ..streams import (
        DEFAULT_ESCAPE,
        Output,
        RawTerminal,
        isatty,
        monitor_tty_size,
        parse_detach_keys,
        stream_session,
        terminal_size,
    )

    parsed = parse(EXEC, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    try:
        env = o.read_env(opts.env_file, opts.env)
        escape = parse_detach_keys(opts.detach_keys) if opts.detach_keys else DEFAULT_ESCAPE
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    attach_stdin = bool(opts.interactive and not opts.detach)
    config = {
        "User": opts.user, "Privileged": opts.privileged, "Tty": opts.tty,
        "AttachStdin": attach_stdin, "AttachStdout": not opts.detach,
        "AttachStderr": not opts.detach, "Detach": opts.detach,
        "Env": env, "WorkingDir": opts.workdir, "Cmd": args[1:],
    }
    if opts.detach_keys:
        config["DetachKeys"] = opts.detach_keys
    client = ctx.client
    client.get(f"/containers/{args[0]}/json")
    if not opts.detach and attach_stdin and opts.tty and not isatty(ctx.stdin_fd):
        raise CLIError("the input device is not a TTY")
    start: dict[str, object] = {"Detach": opts.detach, "Tty": opts.tty}
    if opts.tty:
        size = terminal_size(1)
        if size is not None:
            config["ConsoleSize"] = start["ConsoleSize"] = list(size)
    exec_id = str((client.post(f"/containers/{args[0]}/exec", body=config) or {}).get("Id", ""))
    if not exec_id:
        raise CLIError("exec ID empty")
    if opts.detach:
        client.request("POST", f"/exec/{exec_id}/start", body=start).read()
        return 0
    hj = client.hijack(f"/exec/{exec_id}/start", body=start)
    raw = None
    if opts.tty and attach_stdin and isatty(ctx.stdin_fd):
        raw = RawTerminal(ctx.stdin_fd).__enter__()
    try:
        if opts.tty and isatty(ctx.stdin_fd):
            monitor_tty_size(resizer(client, f"/exec/{exec_id}/resize"), 1)
        session = stream_session(hj, opts.tty, ctx.stdin_fd if attach_stdin else None,
                                 Output(ctx.out_bytes(), ctx.err_bytes()),
                                 on_output_end=raw.restore if raw is not None else None,
                                 escape=escape)
    finally:
        if raw is not None:
            raw.restore()
    if session.detached:
        return 0
    return _exit_code(client, exec_id)


def _exit_code(client: Client, exec_id: str) -> int:
    """Return the exec's exit code; the stream may close just before it is recorded."""
    import time

    for attempt in range(100):
        try:
            info = client.get(f"/exec/{exec_id}/json") or {}
        except CLIError:
            return 255  # the daemon went away (docker: -1)
        if not info.get("Running") or attempt == 99:
            break
        time.sleep(0.01)
    code = info.get("ExitCode")
    return int(code) if code is not None else 0


ATTACH = Command("{prog} [OPTIONS] CONTAINER",
                 "Attach local standard input, output, and error streams to a running container",
                 [
                     Flag("detach-keys", "", "string",
                          "Override the key sequence for detaching a container"),
                     Flag("no-stdin", "", "bool", "Do not attach STDIN"),
                     Flag("sig-proxy", "", "bool", "Proxy all received signals to the process",
                          default=True),
                 ], min_args=1, max_args=1)


def attach(ctx: Context, argv: list[str]) -> int:
    """Attach to a running container; exit with its code when it stops."""
    from ..streams import (
        DEFAULT_ESCAPE,
        Output,
        RawTerminal,
        forward_signals,
        isatty,
        monitor_tty_size,
        parse_detach_keys,
        stream_session,
    )

    parsed = parse(ATTACH, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    client = ctx.client
    info = client.get(f"/containers/{args[0]}/json")
    state, config = info.get("State") or {}, info.get("Config") or {}
    if not state.get("Running"):
        raise CLIError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise CLIError("You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise CLIError("You cannot attach to a restarting container, wait until it is running")
    cid, tty = info["Id"], bool(config.get("Tty"))
    stdin = bool(config.get("OpenStdin")) and not opts.no_stdin
    if stdin and tty and not isatty(ctx.stdin_fd):
        raise CLIError("the input device is not a TTY")
    try:
        escape = parse_detach_keys(opts.detach_keys) if opts.detach_keys else DEFAULT_ESCAPE
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    undo = None
    if opts.sig_proxy and not tty:
        undo = forward_signals(lambda sig: client.clone().request(
            "POST", f"/containers/{cid}/kill", {"signal": sig}).read())
    waiter = client.clone()
    waiter.send("POST", f"/containers/{cid}/wait")
    hj = client.hijack(f"/containers/{cid}/attach",
                       {"stream": True, "stdin": stdin or None, "stdout": True, "stderr": True})
    raw = RawTerminal(ctx.stdin_fd).__enter__() if tty and stdin else None
    try:
        if tty and isatty(1):
            monitor_tty_size(resizer(client, f"/containers/{cid}/resize"), 1)
        session = stream_session(hj, tty, ctx.stdin_fd if stdin else None,
                                 Output(ctx.out_bytes(), ctx.err_bytes()),
                                 on_output_end=raw.restore if raw is not None else None,
                                 escape=escape)
    finally:
        if raw is not None:
            raw.restore()
        if undo is not None:
            undo()
    if session.detached:
        return 0
    try:
        doc = waiter.get_response("POST").json() or {}
    except CLIError as exc:
        raise StatusError(1, str(exc)) from None
    return int(doc.get("StatusCode", 0))
