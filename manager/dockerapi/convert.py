"""Docker Engine API JSON ⇄ shoal.v1 protobuf: every public conversion in one import.

Pure functions, no I/O. `*_from_json(data, path)` take the decoded JSON
(dict) and raise shoal.engine.errors.InvalidArgument naming the bad field
under PATH; `*_to_json(msg)` give the dict dockerd would answer. The code
lives in one module per kind (services, templates, containers, tasks, nodes,
swarm, networks).
"""

from __future__ import annotations

from shoal.manager.dockerapi.containers import container_spec_from_json, container_spec_to_json
from shoal.manager.dockerapi.meta import version_from_query
from shoal.manager.dockerapi.networks import (
    network_from_swarm_json,
    network_spec_from_create,
    network_to_resource,
    network_to_swarm_json,
)
from shoal.manager.dockerapi.nodes import (
    node_from_json,
    node_spec_from_json,
    node_spec_to_json,
    node_to_json,
)
from shoal.manager.dockerapi.services import (
    keep_current_where_only_defaults_differ,
    service_from_json,
    service_spec_from_json,
    service_spec_to_json,
    service_status_json,
    service_to_json,
    with_defaults,
)
from shoal.manager.dockerapi.swarm import (
    cluster_from_json,
    cluster_spec_from_json,
    cluster_spec_to_json,
    init_request_from_json,
    join_request_from_json,
    merge_cluster_spec,
    swarm_to_json,
)
from shoal.manager.dockerapi.tasks import state_name, task_from_json, task_name, task_to_json
from shoal.manager.dockerapi.templates import task_spec_from_json, task_spec_to_json

__all__ = [
    "cluster_from_json",
    "cluster_spec_from_json",
    "cluster_spec_to_json",
    "container_spec_from_json",
    "container_spec_to_json",
    "init_request_from_json",
    "join_request_from_json",
    "keep_current_where_only_defaults_differ",
    "merge_cluster_spec",
    "network_from_swarm_json",
    "network_spec_from_create",
    "network_to_resource",
    "network_to_swarm_json",
    "node_from_json",
    "node_spec_from_json",
    "node_spec_to_json",
    "node_to_json",
    "service_from_json",
    "service_spec_from_json",
    "service_spec_to_json",
    "service_status_json",
    "service_to_json",
    "state_name",
    "swarm_to_json",
    "task_from_json",
    "task_name",
    "task_spec_from_json",
    "task_spec_to_json",
    "task_to_json",
    "version_from_query",
    "with_defaults",
]
