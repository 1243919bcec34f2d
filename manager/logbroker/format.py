"""Log lines as Docker's service logs API sends them: [timestamp ][details ]line."""

from __future__ import annotations

import time
from urllib.parse import quote_plus

from shoal.proto.shoal.v1.logbroker_pb2 import LogMessage

NODE_KEY = "com.docker.swarm.node.id"
SERVICE_KEY = "com.docker.swarm.service.id"
TASK_KEY = "com.docker.swarm.task.id"


def rfc3339_nano(seconds: int, nanos: int) -> str:
    """Format a time as the engine's json-file log does (RFC 3339, UTC, 9 digits)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def details(msg: LogMessage) -> str:
    """Return the context Docker's CLI parses: ``node.id=..,service.id=..,task.id=..``."""
    ctx = msg.context
    pairs = ((NODE_KEY, ctx.node_id), (SERVICE_KEY, ctx.service_id), (TASK_KEY, ctx.task_id))
    return ",".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs)


def docker_line(msg: LogMessage, *, timestamps: bool = False, with_details: bool = False) -> bytes:
    """Return MSG's line with the timestamp and details prefixes asked for."""
    prefix = ""
    if timestamps:
        prefix += rfc3339_nano(msg.timestamp.seconds, msg.timestamp.nanos) + " "
    if with_details:
        prefix += details(msg) + " "
    return prefix.encode() + msg.data
