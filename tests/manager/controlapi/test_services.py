"""Services through ControlService on a real store: validation, CRUD, versions, removal."""

from __future__ import annotations

import re

import pytest

from shoal.manager.controlapi import (
    ControlService,
    FailedPrecondition,
    InvalidArgument,
    Unimplemented,
)
from shoal.manager.store import AlreadyExists, NotFound, VersionConflict
from shoal.proto.shoal.v1 import control_pb2, objects_pb2, specs_pb2, types_pb2
from tests.manager.controlapi.conftest import add_task, port, service_spec


async def test_create_get_list(control: ControlService) -> None:
    svc = await control.create_service(service_spec("web", replicas=None))
    assert svc.spec.replicated.replicas == 1  # Docker's default mode
    assert svc.spec_version.index == 1
    assert control.get_service(svc.id) == svc
    assert [s.id for s in control.list_services()] == [svc.id]
    with pytest.raises(NotFound, match="service nope not found"):
        control.get_service("nope")


async def test_names_are_unique(control: ControlService) -> None:
    first = await control.create_service(service_spec("web"))
    with pytest.raises(AlreadyExists, match="^service web already exists$") as err:
        await control.create_service(service_spec("web", image="nginx"))
    assert err.value.existing_id == first.id
    await control.create_service(service_spec("stack_web"))  # stack services have "_"


def _set(path: str, value):
    def change(spec: specs_pb2.ServiceSpec) -> None:
        *parents, leaf = path.split(".")
        obj = spec
        for p in parents:
            obj = getattr(obj, p)
        setattr(obj, leaf, value)

    return change


def _append(path: str, *values):
    def change(spec: specs_pb2.ServiceSpec) -> None:
        obj = spec
        for p in path.split("."):
            obj = getattr(obj, p)
        for v in values:
            if isinstance(v, str):
                obj.append(v)
            else:
                obj.add().CopyFrom(v)

    return change


def _global_with_max(spec: specs_pb2.ServiceSpec) -> None:
    getattr(spec, "global").SetInParent()
    spec.task.placement.max_replicas_per_node = 2


def _mount(target: str, source: str = "", kind=types_pb2.Mount.VOLUME) -> types_pb2.Mount:
    return types_pb2.Mount(type=kind, target=target, source=source)


def _spread(descriptor: str) -> types_pb2.PlacementPreference:
    return types_pb2.PlacementPreference(spread=types_pb2.SpreadOver(spread_descriptor=descriptor))


INVALID = [
    (_set("annotations.name", ""), "meta: name must be provided"),
    (_set("annotations.name", "-web"), "name must be valid as a DNS name component"),
    (_set("annotations.name", "a" * 64), "name must be 63 characters or fewer"),
    (_set("task.container.image", ""), "ContainerSpec: image reference must be provided"),
    (_set("task.container.image", "Busy Box"), "is not a valid repository/tag"),
    (
        _set("task.resources.limits.nano_cpus", 1000),
        "invalid cpu value 1e-06: Must be at least 0.001",
    ),
    (
        _set("task.resources.reservations.memory_bytes", 1024),
        "invalid memory value 1024: Must be at least 4MiB",
    ),
    (_set("task.restart.delay.seconds", -1), "TaskSpec: restart-delay cannot be negative"),
    (
        _set("update.max_failure_ratio", 1.5),
        "update-maxfailureratio cannot be less than 0 or bigger than 1",
    ),
    (_set("rollback.delay.seconds", -3), "TaskSpec: rollback-delay cannot be negative"),
    (
        _set("task.container.healthcheck.interval.nanos", 10),
        "Interval in HealthConfig cannot be less than 1ms",
    ),
    (
        _append("task.placement.constraints", "node.role=manager"),
        "constraint expected one operator from ==, !=",
    ),
    (_append("task.placement.constraints", "node.role==boss"), "node.role is manager or worker"),
    (
        _append("task.placement.constraints", "node.colour==red"),
        "key 'node.colour' is not supported",
    ),
    (_append("task.placement.constraints", "node.labels.zone==a>b"), "value 'a>b' is invalid"),
    (
        _append("task.placement.preferences", _spread("node.zone")),
        "spread over node.labels.<label>",
    ),
    (_global_with_max, "max replicas per node can only be used with replicated mode"),
    (
        _append("endpoint.ports", port(8080), port(8080, target=81)),
        "EndpointSpec: duplicate published ports provided",
    ),
    (_append("endpoint.ports", port(8080, target=0)), "target port 0 must be between 1 and 65535"),
    (_set("endpoint.mode", specs_pb2.EndpointSpec.DNSRR), None),  # valid alone
    (_append("task.container.mounts", _mount("relative")), "must be an absolute path: 'relative'"),
    (_append("task.container.mounts", _mount("/a"), _mount("/a")), "duplicate mount point: /a"),
    (
        _append("task.container.mounts", _mount("/a", "rel", types_pb2.Mount.BIND)),
        "invalid bind mount source",
    ),
    (
        _append("task.container.secrets", types_pb2.SecretReference(secret_name="nope")),
        "secret not found: nope",
    ),
    (
        _append("task.networks", types_pb2.NetworkAttachmentConfig(target="nonet")),
        "network nonet not found",
    ),
]


@pytest.mark.parametrize(("change", "message"), INVALID)
async def test_invalid_specs_are_refused(control: ControlService, change, message) -> None:
    spec = service_spec("web")
    change(spec)
    if message is None:
        await control.create_service(spec)
        return
    with pytest.raises((InvalidArgument, NotFound), match=re.escape(message)):
        await control.create_service(spec)
    assert control.list_services() == []


async def test_dnsrr_refuses_ingress_ports(control: ControlService) -> None:
    spec = service_spec()
    spec.endpoint.mode = specs_pb2.EndpointSpec.DNSRR
    spec.endpoint.ports.append(port(80))
    with pytest.raises(InvalidArgument, match="ingress mode can't be used with dnsrr mode"):
        await control.create_service(spec)


async def test_valid_placement_and_configs(control: ControlService) -> None:
    spec = service_spec()
    spec.task.placement.constraints.extend(
        [
            "node.labels.zone==eu-1",
            "node.role != manager",
            "node.id==abc",
            "node.hostname!=h1",
            "node.platform.os==linux",
            "node.platform.arch==x86_64",
            "engine.labels.disk==ssd",
        ]
    )
    spec.task.placement.preferences.add().spread.spread_descriptor = "node.labels.zone"
    spec.task.restart.condition = types_pb2.RestartPolicy.ON_FAILURE
    spec.task.restart.delay.seconds = 5
    spec.update.parallelism = 2
    spec.update.failure_action = types_pb2.UpdateConfig.ROLLBACK
    spec.update.max_failure_ratio = 0.5
    spec.task.resources.limits.nano_cpus = 500_000_000
    spec.task.resources.limits.memory_bytes = 64 << 20
    svc = await control.create_service(spec)
    assert list(svc.spec.task.placement.constraints) == list(spec.task.placement.constraints)


async def test_secret_and_network_references_are_resolved(control: ControlService) -> None:
    secret = await control.create_secret(
        specs_pb2.SecretSpec(annotations=types_pb2.Annotations(name="pw"), data=b"s3cret")
    )
    net = await control.create_network(
        specs_pb2.NetworkSpec(annotations=types_pb2.Annotations(name="backend"))
    )
    spec = service_spec()
    spec.task.container.secrets.add(secret_name="pw")
    spec.task.networks.add(target="backend")
    svc = await control.create_service(spec)
    ref = svc.spec.task.container.secrets[0]
    assert (ref.secret_id, ref.secret_name, ref.file.name) == (secret.id, "pw", "pw")
    assert svc.spec.task.networks[0].target == net.id


async def test_published_port_conflicts(control: ControlService) -> None:
    a = service_spec("a")
    a.endpoint.ports.append(port(8080))
    svc_a = await control.create_service(a)
    b = service_spec("b")
    b.endpoint.ports.append(port(8080, host=True))
    with pytest.raises(
        InvalidArgument,
        match=re.escape(f"port '8080' is already in use by service 'a' ({svc_a.id}) as an ingress"),
    ):
        await control.create_service(b)
    b.endpoint.ports[0].protocol = types_pb2.PortConfig.UDP  # another protocol is fine
    await control.create_service(b)
    # Two services may publish one host port: the scheduler keeps them apart.
    c, d = service_spec("c"), service_spec("d")
    c.endpoint.ports.append(port(9000, host=True))
    d.endpoint.ports.append(port(9000, host=True))
    svc_c = await control.create_service(c)
    await control.create_service(d)
    e = service_spec("e")
    e.endpoint.ports.append(port(9000))
    with pytest.raises(InvalidArgument, match="as a host-published port"):
        await control.create_service(e)
    # A service does not conflict with itself on update.
    c.task.container.env.append("X=1")
    updated = await control.update_service(svc_c.id, svc_c.meta.version.index, c)
    assert list(updated.endpoint.ports) == list(c.endpoint.ports)


async def test_update_versions_and_rollback(control: ControlService) -> None:
    svc = await control.create_service(service_spec("web", replicas=1))
    spec = service_spec("web", replicas=3)
    v1 = svc.meta.version.index
    with pytest.raises(InvalidArgument, match="service version must be provided"):
        await control.update_service(svc.id, 0, spec)
    updated = await control.update_service(svc.id, v1, spec)
    assert updated.spec.replicated.replicas == 3
    assert updated.spec_version.index == 2
    assert updated.previous_spec.replicated.replicas == 1
    assert updated.previous_spec_version.index == 1
    # A second update based on the first read is out of sequence.
    with pytest.raises(VersionConflict, match="^update out of sequence"):
        await control.update_service(svc.id, v1, service_spec("web", replicas=5))
    rolled = await control.update_service(svc.id, updated.meta.version.index, rollback=True)
    assert rolled.spec.replicated.replicas == 1 and rolled.spec_version.index == 1
    assert rolled.previous_spec.replicated.replicas == 3
    assert rolled.update_status.state == objects_pb2.UpdateStatus.ROLLBACK_STARTED
    again = await control.update_service(svc.id, rolled.meta.version.index, spec)
    assert again.spec_version.index == 3  # never reused
    assert not again.HasField("update_status")


async def test_update_refusals(control: ControlService) -> None:
    svc = await control.create_service(service_spec("web"))
    v = svc.meta.version.index
    with pytest.raises(FailedPrecondition, match="does not have a previous spec"):
        await control.update_service(svc.id, v, rollback=True)
    with pytest.raises(Unimplemented, match="renaming services is not supported"):
        await control.update_service(svc.id, v, service_spec("other"))
    glob = service_spec("web", replicas=None)
    getattr(glob, "global").SetInParent()
    with pytest.raises(InvalidArgument, match="service mode change is not allowed"):
        await control.update_service(svc.id, v, glob)
    with pytest.raises(NotFound):
        await control.update_service("missing", v, service_spec("web"))


async def test_remove_without_tasks_deletes_at_once(control: ControlService) -> None:
    svc = await control.create_service(service_spec("web"))
    await control.remove_service(svc.id)
    assert control.store.get(objects_pb2.Service, svc.id) is None
    with pytest.raises(NotFound):
        await control.remove_service(svc.id)


async def test_remove_marks_the_service_and_its_tasks(control: ControlService) -> None:
    store = control.store
    svc = await control.create_service(service_spec("web", replicas=3))
    tasks = [await add_task(store, svc, slot) for slot in (1, 2, 3)]
    await add_task(store, svc, 1, desired=types_pb2.SHUTDOWN, state=types_pb2.SHUTDOWN)
    other = await control.create_service(service_spec("other"))
    keep = await add_task(store, other, 1)

    await control.remove_service(svc.id)
    stored = store.get(objects_pb2.Service, svc.id)
    assert stored.pending_delete
    assert {t.desired_state for t in store.cache.tasks_by_service(svc.id)} == {types_pb2.REMOVE}
    assert len(store.cache.tasks_by_service(svc.id)) == 4
    assert store.get(objects_pb2.Task, keep.id).desired_state == types_pb2.RUNNING
    # Gone for the user, though the reaper has work left.
    with pytest.raises(NotFound):
        control.get_service(svc.id)
    assert [s.id for s in control.list_services()] == [other.id]
    assert tasks[0].id in {t.id for t in control.list_tasks(service_ids=[svc.id])}
    # The name is free again: the pending service object is dropped.
    new = await control.create_service(service_spec("web"))
    assert new.id != svc.id
    assert store.get(objects_pb2.Service, svc.id) is None
    assert len(store.cache.tasks_by_service(svc.id)) == 4  # left to the reaper


async def test_list_filters(control: ControlService) -> None:
    a = service_spec("front")
    a.annotations.labels["tier"] = "web"
    svc_a = await control.create_service(a)
    b = service_spec("back", replicas=None)
    getattr(b, "global").SetInParent()
    b.annotations.labels["tier"] = "db"
    svc_b = await control.create_service(b)

    def names(**kw) -> list[str]:
        f = control_pb2.ListFilters(**{k: v for k, v in kw.items() if k != "modes"})
        return sorted(
            s.spec.annotations.name for s in control.list_services(f, kw.get("modes", ()))
        )

    assert names(names=["front"]) == ["front"]
    assert names(name_prefixes=["ba", "fr"]) == ["back", "front"]
    assert names(id_prefixes=[svc_b.id[:6]]) == ["back"]
    assert names(labels={"tier": "db"}) == ["back"]
    assert names(labels={"tier": ""}) == ["back", "front"]
    assert names(modes=["global"]) == ["back"]
    assert names(modes=["replicated"], labels={"tier": "web"}) == ["front"]
    assert svc_a.id
    with pytest.raises(InvalidArgument, match="invalid service mode filter"):
        control.list_services(modes=["both"])
