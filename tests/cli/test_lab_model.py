"""Lab naming, address plan, state file and host resolution (no root, nothing made)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from shoal.cli.lab import InvalidLabSpec, LabNotFound
from shoal.cli.lab.lab import Lab
from shoal.cli.lab.model import (
    LabState,
    bridge_name,
    check_counts,
    check_name,
    list_labs,
    load_lab,
    resolve_host,
    veth_name,
)
from shoal.cli.lab.subnets import pick_block
from shoal.cli.main import _global_options

Net = ipaddress.IPv4Network


@pytest.mark.parametrize("name", ["lab", "a", "t3a1", "abcdef"])
def test_good_names_fit_ifnamsiz(name: str) -> None:
    assert check_name(name) == name
    assert len(bridge_name(name)) <= 15
    assert len(veth_name(name, 200)) <= 15
    assert len(veth_name(name, "r")) <= 15


@pytest.mark.parametrize("name", ["", "Lab", "1lab", "my-lab", "abcdefg", "a_b", "lab/1"])
def test_bad_names_are_refused_saying_why(name: str) -> None:
    with pytest.raises(InvalidLabSpec, match="invalid lab name"):
        check_name(name)


@pytest.mark.parametrize(("nodes", "managers", "what"), [
    (0, 1, "--nodes 0"), (201, 1, "--nodes 201"), (3, 0, "--managers 0"),
    (3, 4, "--managers 4")])
def test_bad_counts_are_refused(nodes: int, managers: int, what: str) -> None:
    with pytest.raises(InvalidLabSpec, match=what):
        check_counts(nodes, managers)


def test_block_skips_host_routes_and_other_labs() -> None:
    assert pick_block([]) == Net("10.224.0.0/16")
    avoid = [Net("0.0.0.0/0"), Net("10.224.3.0/24"), Net("10.225.0.0/16"), Net("10.226.0.0/15")]
    assert pick_block(avoid) == Net("10.228.0.0/16")


def test_plan_names_addresses_and_directories(tmp_path: Path) -> None:
    st = Lab.plan("t1", 5, 3, True, tmp_path, [Net("10.224.0.0/16")])
    assert st.block == "10.225.0.0/16" and st.underlay == "10.225.0.0/24"
    assert st.bridge == "slab-t1" and st.bridge_addr == "10.225.0.254"
    assert [h.name for h in st.hosts] == ["t1-1", "t1-2", "t1-3", "t1-4", "t1-5"]
    assert [h.role for h in st.hosts] == ["manager"] * 3 + ["worker"] * 2
    h2 = st.hosts[1]
    assert (h2.addr, h2.bridge_subnet) == ("10.225.0.2", "10.225.2.0/24")
    assert h2.netns == "/run/netns/slab-t1-2" and h2.veth == "slab-t1-2"
    assert h2.cgroup_parent == "shoal-lab-t1-2"
    assert h2.socket == str(tmp_path / "t1" / "hosts" / "2" / "run" / "shoal.sock")
    assert st.registry is not None and st.registry.name == "t1-registry"
    assert st.registry_addr == "10.225.0.250:5000"
    subnets = [Net(h.bridge_subnet) for h in st.hosts] + [Net(st.underlay)]
    assert len(set(subnets)) == 6 and all(n.subnet_of(Net(st.block)) for n in subnets)


def test_state_round_trips_and_lists(tmp_path: Path) -> None:
    st = Lab.plan("t2", 2, 1, False, tmp_path, [])
    st.hosts[0].pid = 4242
    st.save()
    back = load_lab("t2", tmp_path)
    assert back == st
    assert [s.name for s in list_labs(tmp_path)] == ["t2"]
    assert back.host("2").name == "t2-2" and back.host("t2-1").pid == 4242


def test_missing_and_broken_state_say_where(tmp_path: Path) -> None:
    with pytest.raises(LabNotFound, match="no lab named 'nope'"):
        load_lab("nope", tmp_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "state.json").write_text("{not json")
    with pytest.raises(InvalidLabSpec, match=r"bad/state.json: unreadable"):
        LabState.load(tmp_path / "bad" / "state.json")
    (tmp_path / "bad" / "state.json").write_text(json.dumps({"name": "bad", "color": 1}))
    with pytest.raises(InvalidLabSpec, match="unexpected lab state"):
        LabState.load(tmp_path / "bad" / "state.json")
    assert list_labs(tmp_path) == []  # a broken lab does not break `lab ls`
    st = Lab.plan("t3", 1, 1, False, tmp_path, [])
    with pytest.raises(LabNotFound, match="has no host 't3-9'"):
        st.host("t3-9")


def test_host_names_resolve_to_sockets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = Lab.plan("t4", 3, 1, True, tmp_path, [])
    st.save()
    assert resolve_host("t4-2", tmp_path) == "unix://" + st.hosts[1].socket
    assert resolve_host("t4-9", tmp_path) is None
    assert resolve_host("t4-registry", tmp_path) is None  # no shoald there
    assert resolve_host("other-1", tmp_path) is None
    monkeypatch.setenv("SHOAL_LAB_ROOT", str(tmp_path))
    monkeypatch.setenv("SHOAL_HOST", "t4-3")
    assert _global_options(["info"])[0] == "unix://" + st.hosts[2].socket
    assert _global_options(["-H", "t4-1", "info"])[0] == "unix://" + st.hosts[0].socket
    assert _global_options(["-H", "unix:///x.sock", "info"])[0] == "unix:///x.sock"
    assert _global_options(["-H", "tcp://t4-1:2375", "info"])[0] == "tcp://t4-1:2375"
