"""ServiceStatus{RunningTasks, DesiredTasks} for `GET /services?status=true`, counted like dockerd.

A task counts as running when the manager wants it running, its agent says it
runs, and its node is not down. A replicated service desires its replica
count; a global service one task per node it should run on, that is the
tasks the manager wants running.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from shoal.manager.dockerapi.services import service_status_json
from shoal.proto.shoal.v1 import objects_pb2, types_pb2


def service_statuses(services: Iterable[objects_pb2.Service], tasks: Iterable[objects_pb2.Task],
                     nodes: Iterable[objects_pb2.Node]) -> dict[str, dict[str, Any]]:
    """Return each service's ServiceStatus JSON by service ID."""
    down = {n.id for n in nodes if n.status.state == objects_pb2.NodeStatus.DOWN}
    running: Counter[str] = Counter()
    wanted: Counter[str] = Counter()
    for t in tasks:
        if t.desired_state != types_pb2.RUNNING:
            continue
        wanted[t.service_id] += 1
        if t.status.state == types_pb2.RUNNING and t.node_id not in down:
            running[t.service_id] += 1
    out = {}
    for s in services:
        if s.spec.WhichOneof("mode") == "global":
            desired = wanted[s.id]
        else:
            desired = s.spec.replicated.replicas
        out[s.id] = service_status_json(running[s.id], desired)
    return out
