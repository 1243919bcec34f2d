"""Batch placement: spreading over nodes, over label values, within what fits."""

from __future__ import annotations

from collections import Counter

from shoal.manager.scheduler import NodeInfo, Pipeline, Placer, usage_of
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import PlacementPreference, SpreadOver, TaskState
from tests.manager.fakes import make_node

GiB = 1 << 30


def nodes(n: int, **kw: object) -> list[NodeInfo]:
    return [NodeInfo(make_node(f"n{i}", **kw), seq=i) for i in range(n)]  # type: ignore[arg-type]


def task(service: str = "s", memory: int = 0, max_per_node: int = 0, *spread: str) -> Task:
    t = Task(id="t", service_id=service, desired_state=TaskState.RUNNING)
    t.spec.resources.reservations.memory_bytes = memory
    t.spec.placement.max_replicas_per_node = max_per_node
    for label in spread:
        t.spec.placement.preferences.append(
            PlacementPreference(spread=SpreadOver(spread_descriptor=label))
        )
    return t


def place_all(infos: list[NodeInfo], t: Task, n: int) -> list[NodeInfo]:
    """Place N copies of T; return the chosen nodes in order."""
    p = Pipeline()
    p.set_task(t)
    candidates = [x for x in infos if p.check(x)]
    spread = [pref.spread.spread_descriptor for pref in t.spec.placement.preferences]
    placer = Placer(candidates, t.service_id, spread, p.fits)

    def assign(node: NodeInfo) -> None:
        node.add(usage_of(t, node.id))  # type: ignore[arg-type]

    out = []
    for _ in range(n):
        node = placer.place(assign)
        if node is None:
            break
        out.append(node)
    return out


def test_spreads_evenly_by_tasks_of_the_service_then_all_tasks() -> None:
    infos = nodes(4)
    busy = infos[0]
    for _ in range(3):
        busy.add(usage_of(task("other"), busy.id))  # type: ignore[arg-type]
    chosen = place_all(infos, task(), 8)
    assert Counter(n.id for n in chosen) == {n.id: 2 for n in infos}
    # the node busy with another service comes last in each round
    assert busy not in chosen[:3]


def test_existing_tasks_of_the_service_count() -> None:
    infos = nodes(3)
    for _ in range(2):
        infos[0].add(usage_of(task(), infos[0].id))  # type: ignore[arg-type]
    chosen = place_all(infos, task(), 4)
    assert Counter(n.id for n in chosen) == {infos[1].id: 2, infos[2].id: 2}


def test_stops_when_nothing_fits_any_more() -> None:
    infos = nodes(3, memory=3 * GiB)
    chosen = place_all(infos, task(memory=GiB), 20)
    assert len(chosen) == 9
    assert all(n.free_memory == 0 for n in infos)


def test_max_replicas_per_node_during_one_batch() -> None:
    infos = nodes(3)
    chosen = place_all(infos, task("s", 0, 2), 10)
    assert Counter(n.id for n in chosen) == {n.id: 2 for n in infos}


def test_spread_preference_balances_label_values_first() -> None:
    # zone a has 1 node, zone b 3 nodes, and 2 nodes have no zone at all
    infos = nodes(1, labels={"zone": "a"}) + nodes(3, labels={"zone": "b"}) + nodes(2)
    chosen = place_all(infos, task("s", 0, 0, "node.labels.zone"), 9)
    by_zone = Counter(n.node.spec.annotations.labels.get("zone", "") for n in chosen)
    assert by_zone == {"a": 3, "b": 3, "": 3}
    in_b = Counter(n.id for n in chosen if n.node.spec.annotations.labels.get("zone") == "b")
    assert sorted(in_b.values()) == [1, 1, 1]


def test_spread_levels_nest_and_full_groups_drop_out() -> None:
    infos = (
        nodes(2, labels={"dc": "x", "rack": "1"}, memory=GiB)
        + nodes(2, labels={"dc": "x", "rack": "2"})
        + nodes(1, labels={"dc": "y", "rack": "1"})
    )
    chosen = place_all(infos, task("s", GiB, 0, "node.labels.dc", "node.labels.rack"), 8)
    assert len(chosen) == 8
    dcs = Counter(n.node.spec.annotations.labels["dc"] for n in chosen)
    assert dcs == {"x": 4, "y": 4}
    racks_x = Counter(
        n.node.spec.annotations.labels["rack"]
        for n in chosen
        if n.node.spec.annotations.labels["dc"] == "x"
    )
    assert racks_x == {"1": 2, "2": 2}  # rack 1's nodes hold one 1 GiB task each


def test_ten_thousand_tasks_on_a_thousand_nodes_in_one_pass() -> None:
    infos = nodes(1000)
    chosen = place_all(infos, task(), 10_000)
    assert Counter(Counter(n.id for n in chosen).values()) == {10: 1000}
