"""Constraints, every filter, and the pipeline's explanations, without a store."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.manager.scheduler import (
    AvailabilityFilter,
    ConstraintFilter,
    HostPortFilter,
    InvalidConstraint,
    MaxReplicasFilter,
    NodeInfo,
    Pipeline,
    PlatformFilter,
    ReadyFilter,
    ResourceFilter,
    node_matches,
    parse_constraint,
    parse_constraints,
    usage_of,
)
from shoal.proto.shoal.v1.objects_pb2 import NodeStatus, Task
from shoal.proto.shoal.v1.specs_pb2 import NodeSpec
from shoal.proto.shoal.v1.types_pb2 import NodeRole, Platform, PortConfig, TaskState
from tests.manager.fakes import make_node

GiB = 1 << 30


def info(**kw: Any) -> NodeInfo:
    return NodeInfo(make_node(kw.pop("hostname", "n"), **kw))


def task(
    service: str = "s",
    cpus: float = 0,
    memory: int = 0,
    constraints: list[str] | None = None,
    host_port: int = 0,
    max_per_node: int = 0,
    platforms: list[tuple[str, str]] | None = None,
) -> Task:
    t = Task(id=f"{service}-t", service_id=service, desired_state=TaskState.RUNNING)
    t.status.state = TaskState.PENDING
    t.spec.resources.reservations.nano_cpus = int(cpus * 1e9)
    t.spec.resources.reservations.memory_bytes = memory
    t.spec.placement.constraints.extend(constraints or [])
    t.spec.placement.max_replicas_per_node = max_per_node
    for os_, arch in platforms or []:
        t.spec.placement.platforms.append(Platform(os=os_, architecture=arch))
    if host_port:
        t.endpoint.ports.append(
            PortConfig(target_port=80, published_port=host_port, publish_mode=PortConfig.HOST)
        )
    return t


def place(node: NodeInfo, t: Task) -> None:
    u = usage_of(t, node.id)
    assert u is not None
    node.add(u)


# Constraints.


def test_constraint_parsing() -> None:
    c = parse_constraint(" node.labels.zone == east ")
    assert (c.key, c.equal, c.value) == ("node.labels.zone", True, "east")
    assert not parse_constraint("node.role!=manager").equal
    for bad in ["node.labels.zone=east", "zone==east", "node.role==", "node.bogus==x", "==x"]:
        with pytest.raises(InvalidConstraint):
            parse_constraint(bad)
    assert parse_constraints(["node.role==worker", "nope"], strict=False) is None


def test_constraint_keys() -> None:
    n = make_node(
        "Web-1",
        labels={"zone": "East", "Disk": "ssd"},
        engine_labels={"storage": "zfs"},
        role=NodeRole.MANAGER,
        os="linux",
        arch="aarch64",
    )

    def ok(*exprs: str) -> bool:
        parsed = parse_constraints(exprs)
        assert parsed is not None
        return node_matches(parsed, n)

    assert ok(f"node.id=={n.id}") and not ok("node.id!=" + n.id)
    assert ok("node.hostname==web-1")  # values compare without case
    assert ok("node.role==manager") and not ok("node.role==worker")
    assert ok("node.platform.os==linux", "node.platform.arch==aarch64")
    assert ok("node.labels.zone==east", "node.labels.Disk==ssd")
    assert not ok("node.labels.disk==ssd")  # label names keep their case
    assert ok("node.labels.missing!=x") and not ok("node.labels.missing==x")
    assert ok("engine.labels.storage==zfs") and not ok("engine.labels.storage!=zfs")
    assert not ok("node.labels.zone==east", "node.role==worker")  # all must hold


# Filters, one by one.


def test_ready_and_availability_filters() -> None:
    down = info(state=NodeStatus.DOWN)
    paused = info(availability=NodeSpec.PAUSE)
    drained = info(availability=NodeSpec.DRAIN)
    ok = info()
    r, a = ReadyFilter(), AvailabilityFilter()
    assert r.set_task(task()) and a.set_task(task())
    assert not r.check(down) and r.check(paused) and r.check(ok)
    assert not a.check(paused) and not a.check(drained) and a.check(down) and a.check(ok)
    assert r.explain(1) == "1 node not available"
    assert a.explain(2) == "2 nodes paused or drained"


def test_resource_filter_counts_what_assigned_tasks_reserve() -> None:
    f = ResourceFilter()
    assert not f.set_task(task())  # nothing reserved: the filter does not apply
    t = task(cpus=1.5, memory=3 * GiB)
    assert f.set_task(t)
    n = info(cpus=4, memory=8 * GiB)
    assert f.check(n)
    place(n, t)
    place(n, t)
    assert (n.free_cpus, n.free_memory) == (1_000_000_000, 2 * GiB)
    assert not f.check(n)  # memory ran out first
    n.add(usage_of(t, n.id), -1)  # type: ignore[arg-type]
    assert f.check(n)
    assert f.explain(3) == "insufficient resources on 3 nodes"


def test_constraint_filter() -> None:
    f = ConstraintFilter()
    assert not f.set_task(task())
    assert f.set_task(task(constraints=["node.labels.zone==east"]))
    assert f.check(info(labels={"zone": "east"}))
    assert not f.check(info(labels={"zone": "west"}))
    assert f.set_task(task(constraints=["node.labels.zone=east"]))  # invalid: fits nowhere
    assert not f.check(info(labels={"zone": "east"}))
    assert f.explain(1) == "scheduling constraints not satisfied on 1 node"


def test_platform_filter() -> None:
    f = PlatformFilter()
    assert not f.set_task(task())
    assert f.set_task(task(platforms=[("linux", "amd64")]))
    assert f.check(info(os="linux", arch="x86_64"))  # same architecture, other name
    assert not f.check(info(os="linux", arch="arm64"))
    assert f.set_task(task(platforms=[("windows", ""), ("", "arm64")]))
    assert f.check(info(os="linux", arch="aarch64"))
    assert not f.check(info(os="linux", arch="amd64"))
    assert f.explain(2) == "unsupported platform on 2 nodes"


def test_host_port_filter() -> None:
    f = HostPortFilter()
    assert not f.set_task(task())
    web = task(host_port=8080)
    assert f.set_task(web)
    n = info()
    assert f.check(n)
    place(n, web)
    assert not f.check(n)
    assert f.set_task(task(host_port=8081))
    assert f.check(n)
    ingress = task()
    ingress.endpoint.ports.append(PortConfig(target_port=80, published_port=8080))
    assert not f.set_task(ingress)  # ingress ports do not take the host's port
    assert f.explain(1) == "host-mode port already in use on 1 node"


def test_max_replicas_filter() -> None:
    f = MaxReplicasFilter()
    assert not f.set_task(task())
    t = task(max_per_node=2)
    assert f.set_task(t)
    n = info()
    place(n, t)
    assert f.check(n)
    place(n, task(service="other"))  # other services do not count
    assert f.check(n)
    place(n, t)
    assert not f.check(n)
    assert f.explain(4) == "max replicas per node reached on 4 nodes"


# The pipeline.


def test_pipeline_explains_with_the_most_common_reason_first() -> None:
    t = task(memory=4 * GiB)
    nodes = [info(memory=2 * GiB) for _ in range(3)] + [info(state=NodeStatus.DOWN)]
    p = Pipeline()
    p.set_task(t)
    assert [n for n in nodes if p.check(n)] == []
    assert (
        p.explain() == "no suitable node (insufficient resources on 3 nodes; 1 node not available)"
    )
    # only the first failing filter of a node is blamed
    p.set_task(task(memory=4 * GiB, constraints=["node.labels.x==y"]))
    for n in [info(memory=GiB), info(memory=GiB, state=NodeStatus.DOWN)]:
        p.check(n)
    assert (
        p.explain() == "no suitable node (1 node not available; insufficient resources on 1 node)"
    )
    p.set_task(t)
    assert p.explain() == "no suitable node"
    assert p.fits(info(memory=8 * GiB))
