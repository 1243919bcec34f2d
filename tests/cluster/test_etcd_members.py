"""Every manager runs one member of the embedded etcd: it grows on join, shrinks on demote.

Daemons run in the host's network namespace (tests/cluster/conftest.py), so
every member listens on 127.0.0.1 with ports of its own. The member list is
read through etcd's JSON gateway, as `shoal lab` does.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aetcd import rpc

from shoal.manager import etcd_members as em
from shoal.manager.etcd import EtcdConfig, EtcdProcess, connect
from tests.daemon import processes_with_cwd_or_arg

from .test_multi_node import _token
from .test_single_host import _running, _wait


def _member(i: int, *, started: bool = True, learner: bool = False) -> em.Member:
    return em.Member(i, f"m{i}" if started else "", (f"http://10.0.0.{i}:2380",),
                     (f"http://10.0.0.{i}:2379",) if started else (), learner)


def test_quorum_problem_follows_swarmkit_can_remove_member():
    three = [_member(1), _member(2), _member(3)]
    assert em.quorum_problem(three, 3, healthy={1, 2, 3}) == ""
    assert em.quorum_problem(three, 3, healthy={1, 2}) == ""  # removing the dead one
    assert "loss of quorum: 1 of the 2" in em.quorum_problem(three, 2, healthy={2, 3})
    assert "last etcd member" in em.quorum_problem([_member(1)], 1, healthy={1})
    # learners do not vote: removing one is always fine, and they do not count as voters
    with_learner = [*three, _member(4, started=False, learner=True)]
    assert em.quorum_problem(with_learner, 4, healthy=set()) == ""
    assert em.quorum_problem(with_learner, 3, healthy={1, 2}) == ""
    assert em.quorum_problem(three, 9, healthy=set()) == ""  # not a member (any more)


def test_endpoints_put_this_host_first_and_skip_unstarted_members():
    ms = [_member(1), _member(2, started=False, learner=True), _member(3)]
    assert em.endpoints(ms, first="10.0.0.3:2379") == ["10.0.0.3:2379", "10.0.0.1:2379"]
    assert em.endpoints(ms) == ["10.0.0.1:2379", "10.0.0.3:2379"]


def test_join_removes_a_dead_joiners_learner_and_a_failed_join_cleans_up(tmp_path: Path):
    async def scenario() -> None:
        first = EtcdProcess(EtcdConfig(data_dir=tmp_path / "e1", name="e1"))
        await first.start()
        started: list[EtcdProcess] = [first]
        client = connect([first.endpoint])
        try:
            # a joiner that added its learner and died before running it
            await client.connect()
            await client.clusterstub.MemberAdd(rpc.MemberAddRequest(
                peerURLs=["http://127.0.0.1:9"], isLearner=True), timeout=10)
            assert len(await em.list_members(client)) == 2
            proc, me, members = await em.join([first.endpoint],
                                              EtcdConfig(data_dir=tmp_path / "e2", name="e2"))
            started.append(proc)
            assert {m.name for m in members} == {"e1", "e2"}
            assert not any(m.learner for m in members)
            # a member whose etcd cannot start is removed again, its data dir wiped
            bad = EtcdConfig(data_dir=tmp_path / "e3", name="e3", binary="/bin/false")
            with pytest.raises(em.MembershipError):
                await em.join([first.endpoint], bad, timeout=20)
            assert {m.id for m in await em.list_members(client)} == {m.id for m in members}
            assert not (tmp_path / "e3").exists()
            # the joined member leaves; the first one is then alone again
            await em.leave(client, me.id)
            assert [m.name for m in await em.list_members(client)] == ["e1"]
        finally:
            await client.close()
            for p in started:
                await p.stop()

    asyncio.run(scenario())


@pytest.mark.root
def _state(d) -> dict[str, Any]:
    return json.loads((d.data / "swarm" / "state.json").read_text())


def _members(endpoint: str) -> list[dict[str, Any]]:
    """Return etcd's member list as its JSON gateway answers it."""
    req = urllib.request.Request(f"http://{endpoint}/v3/cluster/member/list", data=b"{}",
                                 method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=5) as r:
        return list(json.loads(r.read()).get("members") or [])


def _healthy(endpoint: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{endpoint}/health", timeout=2) as r:
            return bool(json.loads(r.read()).get("health") == "true")
    except OSError:
        return False


def _leader(d) -> str:
    """Return the node id of the leader as manager D sees it ("" if none or no answer)."""
    st, nodes = d.api("GET", "/nodes")
    if st != 200:
        return ""
    return next((n["ID"] for n in nodes if (n.get("ManagerStatus") or {}).get("Leader")), "")


def _etcd_pids(d) -> list[int]:
    """Return the pids of the etcd processes that keep their data under D's data root."""
    return processes_with_cwd_or_arg(str(d.data / "swarm" / "etcd"))


def _promote(by, d) -> dict[str, Any]:
    """Promote D from manager BY; return D's state once it runs its etcd member."""
    by.cli("node", "promote", _state(d)["node_id"], check=True)
    _wait(lambda: _state(d)["role"] == "manager" and _state(d)["etcd_member_id"], timeout=60)
    _wait(lambda: d.cli("service", "ls").returncode == 0, timeout=30)
    return _state(d)


def _demote(by, d, left: set[int]) -> None:
    """Demote D from manager BY; check that its member is gone (LEFT stay) and its data."""
    by.cli("node", "demote", _state(d)["node_id"], check=True)
    endpoint = _state(by)["etcd_endpoints"][0]
    _wait(lambda: {int(m["ID"]) for m in _members(endpoint)} == left, timeout=30)
    _wait(lambda: not (d.data / "swarm" / "etcd").exists() and not _etcd_pids(d), timeout=30)
    _wait(lambda: d.cli("service", "ls").returncode != 0, timeout=30)
    assert _state(d)["role"] == "worker"


def test_managers_form_one_etcd_that_survives_a_dead_manager(cluster):
    t_start = time.time()
    m1 = cluster.daemon("m1")
    m1.cli("cluster", "init", "--advertise-addr", f"127.0.0.1:{m1.port}", check=True)
    m2, m3 = cluster.daemon("m2"), cluster.daemon("m3")
    # m2 joins as a manager; m3 joins as a worker and is promoted: both add a member
    for m, role in ((m2, "manager"), (m3, "worker")):
        m.cli("cluster", "join", "--token", _token(m1, role), "--advertise-addr",
              f"127.0.0.1:{m.port}", f"127.0.0.1:{m1.port}", check=True)
    _wait(lambda: m1.cli("node", "ls").stdout.count("Ready") == 3)
    _promote(m1, m3)
    grown = time.time() - t_start

    # one member per manager, all started voters; every manager knows every endpoint
    states = {name: _state(m) for name, m in (("m1", m1), ("m2", m2), ("m3", m3))}
    members = _members(states["m3"]["etcd_endpoints"][0])
    assert len(members) == 3, members
    assert all(m.get("name") and m.get("clientURLs") and not m.get("isLearner")
               for m in members), members
    assert {s["etcd_member_id"] for s in states.values()} == {int(m["ID"]) for m in members}
    assert len(states["m3"]["etcd_endpoints"]) == 3
    assert all(len(_etcd_pids(m)) == 1 for m in (m1, m2, m3))
    m1.cli("cluster", "update", "--dispatcher-heartbeat", "1s", check=True)

    # only m3's etcd dies: its manager goes on through the other members; demoting m3
    # then removes its member at once (it does not answer), and a new promotion adds a
    # new one
    for pid in _etcd_pids(m3):
        os.kill(pid, signal.SIGKILL)
    r = m3.cli("service", "create", "--name", "kept", "--replicas", "2", "busybox", "sleep",
               "1000")
    assert r.returncode == 0, r.stderr
    _wait(lambda: _running(m3, "kept") == 2, timeout=60)
    _demote(m2, m3, left={states["m1"]["etcd_member_id"], states["m2"]["etcd_member_id"]})
    states["m3"] = _promote(m2, m3)
    assert len(_members(states["m3"]["etcd_endpoints"][0])) == 3

    # the first manager's host dies: shoald and (through PDEATHSIG) its etcd member
    m1_etcd = _etcd_pids(m1)
    m1.stop(signal.SIGKILL)
    t0 = time.time()
    _wait(lambda: not [p for p in m1_etcd if p in _etcd_pids(m1)], timeout=10)
    survivors = {states["m2"]["node_id"], states["m3"]["node_id"]}
    _wait(lambda: _leader(m2) in survivors and _leader(m3) in survivors, timeout=30)
    failover = time.time() - t0
    r = m3.cli("service", "create", "--name", "after", "--replicas", "1", "busybox", "sleep",
               "1000")
    assert r.returncode == 0, r.stderr
    r = m2.cli("service", "scale", "-d", "kept=3")
    assert r.returncode == 0, r.stderr
    _wait(lambda: _running(m2, "kept") == 3 and _running(m3, "after") == 1, timeout=60)

    # with m1's member down, demoting m2 would leave 1 of 2 members: refused
    r = m3.cli("node", "demote", states["m2"]["node_id"])
    assert r.returncode != 0 and "quorum" in r.stderr, r.stderr
    assert len(_members(states["m3"]["etcd_endpoints"][0])) == 3

    # m1 comes back: its member restarts from its data dir (same id), the cluster is whole
    m1.start()
    _wait(lambda: _healthy(f"127.0.0.1:{states['m1']['etcd_client_port']}"), timeout=30)
    assert _state(m1)["etcd_member_id"] == states["m1"]["etcd_member_id"]
    assert len(_members(states["m1"]["etcd_endpoints"][0])) == 3

    # m1 dies again and is demoted meanwhile: its member is removed at once; when it
    # comes back, it finds itself removed, joins anew, sees its new role and steps down
    m1.stop(signal.SIGKILL)
    ids = {states["m2"]["etcd_member_id"], states["m3"]["etcd_member_id"]}
    _wait(lambda: m2.cli("node", "demote", states["m1"]["node_id"]).returncode == 0)
    _wait(lambda: {int(m["ID"]) for m in _members(states["m2"]["etcd_endpoints"][0])} == ids)
    m1.start()
    _wait(lambda: _state(m1)["role"] == "worker" and not _etcd_pids(m1), timeout=60)
    assert not (m1.data / "swarm" / "etcd").exists()
    assert {int(m["ID"]) for m in _members(states["m2"]["etcd_endpoints"][0])} == ids

    # demoting a live m3: it removes its own member, wipes its data dir, works on
    t1 = time.time()
    _demote(m2, m3, left={states["m2"]["etcd_member_id"]})
    demoted = time.time() - t1
    _wait(lambda: _running(m2, "kept") == 3, timeout=60)
    r = m2.cli("cluster", "leave")  # a manager leaves only with --force (the fixture's)
    assert r.returncode != 0 and "leaves 0 etcd members out of 1" in r.stderr, r.stderr
    print(f"\n3 managers up in {grown:.1f}s; leader again {failover:.1f}s after the kill; "
          f"demotion done in {demoted:.1f}s")
