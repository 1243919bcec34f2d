"""Task states as the orchestrators see them, and how a task is made from its service.

A task *occupies* its slot while its desired state is at most COMPLETE:
RUNNING (the manager wants it running) or COMPLETE (it stopped by itself and
its restart policy says to leave it so). Everything above — SHUTDOWN (stopped
by the manager: scale-down, replaced, node down) and REMOVE (its service is
gone) — is history, kept per slot up to the cluster's retention limit.
"""

from __future__ import annotations

import time
from typing import Any

from shoal.manager.store import Action, new_id
from shoal.proto.shoal.v1.objects_pb2 import Node, NodeStatus, Service, Task
from shoal.proto.shoal.v1.specs_pb2 import NodeSpec
from shoal.proto.shoal.v1.types_pb2 import NetworkAttachmentConfig, PortConfig, TaskState

NEW = TaskState.NEW
PENDING = TaskState.PENDING
ASSIGNED = TaskState.ASSIGNED
RUNNING = TaskState.RUNNING
COMPLETE = TaskState.COMPLETE
SHUTDOWN = TaskState.SHUTDOWN
FAILED = TaskState.FAILED
REJECTED = TaskState.REJECTED
REMOVE = TaskState.REMOVE
ORPHANED = TaskState.ORPHANED

NODE_DOWN = NodeStatus.DOWN
DRAIN = NodeSpec.DRAIN
ACTIVE = NodeSpec.ACTIVE

# What the orchestrator writes as a new task's status. A task that needs
# addresses (it uses a cluster network or publishes an ingress port) is
# written NEW for the allocator (manager/allocator/attachments.py), which
# moves it to PENDING; the others go straight to the scheduler
# (docs/scheduler.md).
PENDING_MESSAGE = "pending task scheduling"
ALLOCATION_MESSAGE = "pending task allocation"


def is_terminal(task: Any) -> bool:
    """Return whether TASK's observed state says it no longer runs."""
    return int(task.status.state) > RUNNING


def occupies(task: Any) -> bool:
    """Return whether TASK holds its slot (desired RUNNING or COMPLETE)."""
    return int(task.desired_state) <= COMPLETE


def never_assigned(task: Any) -> bool:
    """Return whether TASK never reached an agent (safe to delete at once)."""
    return int(task.status.state) < ASSIGNED


def rank(task: Any) -> tuple[bool, int, int, int]:
    """Order the tasks of one slot: the one to keep sorts last (alive, furthest, newest)."""
    alive = not is_terminal(task)
    created = task.meta.created_at
    return (alive, int(task.status.state) if alive else 0, created.seconds, created.nanos)


def task_matters(event: Any, task: Any, updating: set[str]) -> bool:
    """Return whether a task event can change an orchestrator's decisions.

    Deletions, desired-state changes, a task that stopped while desired
    RUNNING, and anything about a service being updated; not the agents'
    progress reports, which are most events.
    """
    if task.service_id in updating or event.action == Action.DELETE:
        return True
    old = event.old
    stopped = int(task.desired_state) == RUNNING and is_terminal(task)
    if old is None:
        return stopped
    return int(old.desired_state) != int(task.desired_state) or (stopped and not is_terminal(old))


def slot_key(task: Any) -> str:
    """Return the cache's "slot" index value of TASK (its service and slot or node)."""
    if task.slot:
        return f"{task.service_id}/{task.slot}"
    return f"{task.service_id}/@{task.node_id}"


def is_replicated(service: Any) -> bool:
    return service is not None and service.spec.WhichOneof("mode") == "replicated"


def is_global(service: Any) -> bool:
    return service is not None and service.spec.WhichOneof("mode") == "global"


def outdated(task: Any, service: Any, memo: dict[tuple[str, int, int], bool] | None = None) -> bool:
    """Return whether TASK must be replaced to run SERVICE's current spec.

    As SwarmKit's IsTaskDirty: the task spec or the endpoint spec differ. A
    scale change bumps spec_version without changing them, so versions alone
    cannot tell. Tasks made from the same spec_version have the same spec,
    so MEMO keeps one answer per (service, service version, task version).
    """
    task_version = int(task.spec_version.index)
    version = int(service.spec_version.index)
    if version and task_version == version:
        return False
    key = (service.id, version, task_version)
    if memo is not None and version and task_version and key in memo:
        return memo[key]
    dirty = bool(task.spec != service.spec.task or task.endpoint.spec != service.spec.endpoint)
    if memo is not None and version and task_version:
        memo[key] = dirty
    return dirty


def node_lost(node: Any) -> bool:
    """Return whether NODE (None: deleted) can no longer run or report its tasks."""
    return node is None or int(node.status.state) == NODE_DOWN


def now_timestamp(task: Task) -> None:
    task.status.timestamp.GetCurrentTime()


def new_task(
    service: Service,
    *,
    slot: int = 0,
    node_id: str = "",
    cluster: Any = None,
    networks: dict[str, Any] | None = None,
) -> Task:
    """Return a new PENDING task of SERVICE for SLOT (replicated) or NODE_ID (global).

    The spec, spec_version, annotations, endpoint and log driver are copied
    from the service; NETWORKS maps network ids and names to Network objects
    for the attachments (unknown targets are left out: the control API
    checks them when the service is written).
    """
    t = Task(id=new_id(), service_id=service.id, slot=slot, node_id=node_id)
    t.desired_state = RUNNING
    t.spec.CopyFrom(service.spec.task)
    t.spec_version.CopyFrom(service.spec_version)
    t.service_annotations.CopyFrom(service.spec.annotations)
    name = service.spec.annotations.name
    t.annotations.name = f"{name}.{slot or node_id}.{t.id}"
    if service.HasField("endpoint"):
        t.endpoint.CopyFrom(service.endpoint)
    elif service.spec.HasField("endpoint"):
        t.endpoint.spec.CopyFrom(service.spec.endpoint)
        t.endpoint.ports.extend(service.spec.endpoint.ports)
    if service.spec.task.HasField("log_driver"):
        t.log_driver.CopyFrom(service.spec.task.log_driver)
    elif cluster is not None and cluster.spec.task_defaults.HasField("log_driver"):
        t.log_driver.CopyFrom(cluster.spec.task_defaults.log_driver)
    if networks:
        attach(t, list(service.spec.task.networks) or list(service.spec.networks), networks)
    if t.networks or needs_ingress(t):
        t.status.state = NEW
        t.status.message = ALLOCATION_MESSAGE
    else:
        t.status.state = PENDING
        t.status.message = PENDING_MESSAGE
    t.status.timestamp.FromNanoseconds(time.time_ns())
    return t


def needs_ingress(task: Task) -> bool:
    """Return whether TASK publishes a port in ingress mode (the allocator attaches it)."""
    return any(p.publish_mode == PortConfig.INGRESS for p in task.endpoint.ports)


def attach(task: Task, wanted: list[NetworkAttachmentConfig], networks: dict[str, Any]) -> None:
    for cfg in wanted:
        net = networks.get(cfg.target)
        if net is None:
            continue
        a = task.networks.add()
        a.network.CopyFrom(net)
        a.aliases.extend(cfg.aliases)


def networks_by_ref(network_list: list[Any]) -> dict[str, Any]:
    """Return NETWORK_LIST indexed by id and by name."""
    out: dict[str, Any] = {}
    for n in network_list:
        out[n.spec.annotations.name] = n
    for n in network_list:
        out[n.id] = n
    return out


def node_of(cache: Any, node_id: str) -> Node | None:
    if not node_id:
        return None
    node: Node | None = cache.get(Node, node_id, copy=False)
    return node
