"""Nodes through ControlService: filters, updates (promote/demote), removal rules."""

from __future__ import annotations

import pytest

from shoal.manager.controlapi import ControlService, FailedPrecondition
from shoal.manager.store import NotFound, VersionConflict
from shoal.proto.shoal.v1 import control_pb2, objects_pb2, specs_pb2, types_pb2
from tests.manager.controlapi.conftest import add_node

DOWN = objects_pb2.NodeStatus.DOWN


async def test_list_filters(control: ControlService) -> None:
    store = control.store
    m = await add_node(store, "m1", types_pb2.MANAGER, zone="a")
    w = await add_node(store, "w1", zone="b")
    w2 = await add_node(store, "w2")

    def ids(filters=None, roles=(), avail=()) -> set[str]:
        return {n.id for n in control.list_nodes(filters, roles, avail)}

    assert ids() == {m.id, w.id, w2.id}
    assert ids(roles=[types_pb2.MANAGER]) == {m.id}
    assert ids(control_pb2.ListFilters(names=["w1"])) == {w.id}
    assert ids(control_pb2.ListFilters(labels={"zone": ""})) == {m.id, w.id}
    assert ids(avail=[specs_pb2.NodeSpec.DRAIN]) == set()
    assert control.get_node(w.id).description.hostname == "w1"


async def test_update_availability_labels_and_versions(control: ControlService) -> None:
    w = await add_node(control.store, "w1")
    spec = specs_pb2.NodeSpec()
    spec.CopyFrom(w.spec)
    spec.availability = specs_pb2.NodeSpec.DRAIN
    spec.annotations.labels["disk"] = "ssd"
    updated = await control.update_node(w.id, w.meta.version.index, spec)
    assert updated.spec.availability == specs_pb2.NodeSpec.DRAIN
    assert updated.spec.annotations.labels["disk"] == "ssd"
    assert updated.description.hostname == "w1"  # only the spec changes
    with pytest.raises(VersionConflict, match="update out of sequence"):
        await control.update_node(w.id, w.meta.version.index, spec)


async def test_promote_and_demote(control: ControlService) -> None:
    store = control.store
    m = await add_node(store, "m1", types_pb2.MANAGER)
    w = await add_node(store, "w1")
    spec = specs_pb2.NodeSpec(desired_role=types_pb2.WORKER)
    with pytest.raises(FailedPrecondition, match="attempting to demote the last manager"):
        await control.update_node(m.id, m.meta.version.index, spec)
    promoted = await control.update_node(
        w.id, w.meta.version.index, specs_pb2.NodeSpec(desired_role=types_pb2.MANAGER)
    )
    assert promoted.spec.desired_role == types_pb2.MANAGER
    assert promoted.role == types_pb2.WORKER  # until its certificate is renewed
    demoted = await control.update_node(m.id, m.meta.version.index, spec)
    assert demoted.spec.desired_role == types_pb2.WORKER


async def test_remove_rules(control: ControlService) -> None:
    store = control.store
    m = await add_node(store, "m1", types_pb2.MANAGER)
    up = await add_node(store, "up")
    down = await add_node(store, "down", state=DOWN)
    with pytest.raises(FailedPrecondition, match="must be demoted to worker before removal"):
        await control.remove_node(m.id, force=True)
    with pytest.raises(FailedPrecondition, match=f"node {up.id} is not down and can't be removed"):
        await control.remove_node(up.id)
    with pytest.raises(FailedPrecondition, match="a manager cannot remove itself"):
        await control.remove_node(m.id, caller=m.id)
    await control.remove_node(down.id)
    await control.remove_node(up.id, force=True)
    assert {n.id for n in control.list_nodes()} == {m.id}
    with pytest.raises(NotFound, match=f"node {up.id} not found"):
        control.get_node(up.id)
