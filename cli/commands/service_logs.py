"""`service logs`: every task's output, each line prefixed ``name.slot.task@node    |``.

    GET /services/{ref}                      (id, name, tty, replicas for the padding)
    GET /services/{id}/logs?stdout=1&stderr=1&details=1[&follow=1][&tail=N][&timestamps=1]
    GET /tasks/{id}, GET /nodes/{id}         (once each, to name a line's task and node)

As docker's, the request asks for details: each line then starts with its
context ``com.docker.swarm.node.id=N,com.docker.swarm.service.id=S,
com.docker.swarm.task.id=T `` (after the timestamp with -t), which this
module turns into the prefix. ``--raw`` prints lines as they come.
"""

from __future__ import annotations

from urllib.parse import unquote

from ..errors import CLIError
from ..flags import Command, Flag
from ..formatting import short_id
from ..streams import STDERR, STDOUT, SYSTEMERR, Demuxer
from . import parse
from .swarm_api import get_service, replicas_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from ..client import Client
    from ..context import Context

TASK_KEY = "com.docker.swarm.task.id"
NODE_KEY = "com.docker.swarm.node.id"
SERVICE_KEY = "com.docker.swarm.service.id"

LOGS = Command("{prog} [OPTIONS] SERVICE", "Fetch the logs of a service", [
    Flag("details", "", "bool", "Show extra details provided to logs"),
    Flag("follow", "f", "bool", "Follow log output"),
    Flag("no-resolve", "", "bool", "Do not map IDs to Names in output"),
    Flag("no-task-ids", "", "bool", "Do not include task IDs in output"),
    Flag("no-trunc", "", "bool", "Do not truncate output"),
    Flag("raw", "", "bool", "Do not neatly format logs"),
    Flag("since", "", "string",
         'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")'),
    Flag("tail", "n", "string", "Number of lines to show from the end of the logs",
         default="all"),
    Flag("timestamps", "t", "bool", "Show timestamps"),
], min_args=1, max_args=1)


def parse_details(text: str) -> dict[str, str] | None:
    """Parse ``k=v,k2=v2`` log details (URL-escaped, as docker's logdetails); None if not."""
    if not text or "=" not in text:
        return None
    out = {}
    for pair in text.split(","):
        key, eq, value = pair.partition("=")
        if not eq:
            return None
        out[unquote(key)] = unquote(value)
    return out


class Prefixer:
    """Turn raw log lines into docker's ``name.slot.task@node    | message`` lines."""

    def __init__(self, client: Client | None, service_name: str, width: int = 1, *,
                 resolve: bool = True, task_ids: bool = True, trunc: bool = True,
                 timestamps: bool = False, details: bool = False) -> None:
        self.client = client  # its own connection: the log stream holds the main one
        self.service_name = service_name
        self.width = width
        self.resolve, self.task_ids, self.trunc = resolve, task_ids, trunc
        self.timestamps, self.details = timestamps, details
        self.tasks: dict[str, dict[str, Any]] = {}
        self.nodes: dict[str, str] = {}

    def _task(self, task_id: str) -> dict[str, Any]:
        if task_id not in self.tasks:
            try:
                self.tasks[task_id] = (self.client.get(f"/tasks/{task_id}") or {}
                                       if self.client else {})
            except CLIError:
                self.tasks[task_id] = {}
        return self.tasks[task_id]

    def _node(self, node_id: str) -> str:
        if not self.resolve or not node_id:
            return node_id
        if node_id not in self.nodes:
            name = node_id
            if self.client is not None:
                try:
                    node = self.client.get(f"/nodes/{node_id}") or {}
                    name = (node.get("Description") or {}).get("Hostname") or node_id
                except CLIError:
                    pass
            self.nodes[node_id] = name
        return self.nodes[node_id]

    def line(self, raw: str) -> str:
        """Return one output line (raw has no newline)."""
        stamp = ""
        rest = raw
        if self.timestamps:
            stamp, _, rest = rest.partition(" ")
        context, sep, message = rest.partition(" ")
        info = parse_details(context)
        if info is None or TASK_KEY not in info or not sep:
            return raw
        task_id = info.pop(TASK_KEY)
        node_id = info.pop(NODE_KEY, "")
        service_id = info.pop(SERVICE_KEY, "")
        task = self._task(task_id)
        node_id = node_id or task.get("NodeID", "")
        name = self.service_name if self.resolve else service_id or self.service_name
        slot = task.get("Slot") or 0
        prefix = f"{name}.{slot or node_id}"
        if self.task_ids:
            prefix += "." + (short_id(task_id, True) if self.trunc else task_id)
        pad = " " * max(0, self.width - len(str(slot))) if slot else ""
        prefix += f"@{self._node(node_id)}{pad}"
        out = f"{stamp} " if stamp else ""
        out += f"{prefix}    | "
        if self.details and info:
            out += ",".join(f"{k}={v}" for k, v in sorted(info.items())) + " "
        return out + message


def copy_lines(chunks: Any, tty: bool, prefixer: Prefixer | None, out: BinaryIO,
               err: BinaryIO) -> None:
    """Demultiplex (unless tty), split into lines and write them, prefixed."""
    demux = Demuxer()
    pending = {STDOUT: b"", STDERR: b""}
    errors = []

    def emit(stream: int, data: bytes, final: bool = False) -> None:
        buf = pending[stream] + data
        *lines, rest = buf.split(b"\n")
        if final and rest:
            lines.append(rest)
            rest = b""
        pending[stream] = rest
        target = err if stream == STDERR else out
        for line in lines:
            text = line.decode("utf-8", "replace")
            if prefixer is not None:
                text = prefixer.line(text)
            target.write(text.encode() + b"\n")
        target.flush()

    for data in chunks:
        pieces = [(STDOUT, data)] if tty else demux.feed(data)
        for stream, piece in pieces:
            if stream == SYSTEMERR:
                errors.append(piece)
            else:
                emit(STDERR if stream == STDERR else STDOUT, piece)
    emit(STDOUT, b"", True)
    emit(STDERR, b"", True)
    if errors:
        raise CLIError("error from daemon in stream: " + b"".join(errors).decode(
            "utf-8", "replace"))


def logs(ctx: Context, argv: list[str]) -> int:
    """Print the logs of every task of a service."""
    from .containers import go_timestamp

    parsed = parse(LOGS, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    service = get_service(ctx, args[0])
    spec = service.get("Spec") or {}
    tty = bool(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("TTY"))
    params = {"stdout": True, "stderr": True,
              "since": go_timestamp(opts.since) or None,
              "timestamps": True if opts.timestamps else None,
              "follow": True if opts.follow else None,
              "tail": opts.tail or None,
              "details": True if (opts.details or not opts.raw) else None}
    prefixer = None
    lookups = None
    if not opts.raw:
        lookups = ctx.client.clone()
        prefixer = Prefixer(lookups, spec.get("Name") or args[0],
                            len(str(replicas_of(spec) or 1)), resolve=not opts.no_resolve,
                            task_ids=not opts.no_task_ids, trunc=not opts.no_trunc,
                            timestamps=opts.timestamps, details=opts.details)
    resp = ctx.client.request("GET", f"/services/{service['ID']}/logs", params)
    try:
        copy_lines(resp.iter_raw(), tty, prefixer, ctx.out_bytes(), ctx.err_bytes())
    finally:
        if lookups is not None:
            lookups.close()
    return 0
