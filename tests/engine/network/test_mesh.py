"""Routing mesh: a published port on either of two hosts reaches tasks on both (mesh.py).

Two host namespaces on an isolated underlay (test_overlay's fixture), an
ingress overlay on both, a task container on each answering "<its address>
<client address>", and each host's own endpoint on the overlay.
"""

from __future__ import annotations

import socket

import pytest

from shoal.engine.network import nsutil
from shoal.engine.network.bridge import mac_for
from shoal.engine.network.errors import InvalidNetworkConfig
from shoal.engine.network.netlink import Netlink
from tests.engine.network.conftest import host_counts, make_service, root_netns_files, sh
from tests.engine.network.tcpserve import serving
from tests.engine.network.test_overlay import UNDERLAY, underlay  # noqa: F401 (a fixture)

pytestmark = pytest.mark.root
NET = "9" * 64
MESH = ["10.233.0.2", "10.233.0.3"]  # each host's own address on the ingress network
TASKS = ["10.233.0.5", "10.233.0.6"]  # a task on each host
PORT = 18080




def fetch(ns: str, host: str) -> tuple[str, str]:
    def call() -> str:
        with socket.create_connection((host, PORT), timeout=3) as c:
            return c.recv(64).decode()

    task, client = nsutil.run_in(ns, call).split()
    return task, client


def test_published_port_answers_on_both_hosts_from_tasks_on_both(tmp_path, underlay):  # noqa: F811
    before = [host_counts(h) for h in underlay]
    mounts = root_netns_files()
    svcs = [make_service(tmp_path / f"h{i}", h) for i, h in enumerate(underlay)]
    for s in svcs:
        s.start()
    vteps = [f"{UNDERLAY}.1", f"{UNDERLAY}.2"]
    try:
        sandboxes = []
        for i, s in enumerate(svcs):
            s.create_overlay("ingress", vni=4400, subnet="10.233.0.0/24", network_id=NET,
                             options={"com.shoal.network.dns": "false"})
            with pytest.raises(InvalidNetworkConfig, match="not on network ingress"):
                s.set_mesh(NET, "10.99.0.2/24")
            s.set_mesh(NET, f"{MESH[i]}/24")
            s.set_mesh(NET, f"{MESH[i]}/24")  # idempotent
            cid = f"{i + 1}" * 64
            sandboxes.append(s.sandbox_create(cid))
            s.connect("ingress", cid, f"web.{i + 1}", ip=TASKS[i])
        for i, s in enumerate(svcs):  # what each host's NetworkState says of the other
            j = 1 - i
            s.add_peer(NET, vteps[j])
            for ip in (MESH[j], TASKS[j]):
                s.add_endpoint(NET, ip, mac_for(ip), vteps[j])
        link = svcs[1].mesh_link(NET)
        lk = Netlink(underlay[1]).link(link)
        assert link == "shvi4400" and lk is not None and lk.kind == "macvlan"
        assert lk.mac == mac_for(MESH[1])

        with serving(sandboxes, TASKS, lambda ip, peer: f"{ip} {peer}"):
            # only host 1's task serves: host 2 sends its connections over the overlay,
            # masqueraded to its own ingress address (the reply comes back through it)
            for s in svcs:
                s.set_service_ports("web", [("tcp", PORT, 80)], [TASKS[0]])
            assert fetch(underlay[1], "127.0.0.1") == (TASKS[0], MESH[1])
            assert fetch(underlay[0], vteps[1]) == (TASKS[0], MESH[1])
            assert fetch(underlay[1], vteps[0]) == (TASKS[0], MESH[0])
            assert fetch(underlay[0], "127.0.0.1") == (TASKS[0], MESH[0])

            # both tasks serve: every host spreads its connections over both
            for s in svcs:
                s.set_service_ports("web", [("tcp", PORT, 80)], TASKS)
            for h in underlay:
                assert {fetch(h, "127.0.0.1")[0] for _ in range(40)} == set(TASKS)

            # the rules follow the mesh interface; without it the port leads nowhere
            assert "-o shvi4400" in sh(underlay[1], "iptables-save -t nat").stdout
            svcs[1].remove_mesh(NET)
            assert Netlink(underlay[1]).link(link) is None
            assert "shvi4400" not in sh(underlay[1], "iptables-save").stdout
            svcs[1].set_mesh(NET, f"{MESH[1]}/24")

            # a restart keeps it; a mesh interface that went is made again
            svcs[1].stop()
            with Netlink(underlay[1]) as nl:
                nl.delete_link(nl.index(link))
            svcs[1] = make_service(tmp_path / "h1", underlay[1])
            report = svcs[1].start(live_containers=["2" * 64])
            assert report["mesh_problems"] == [] and Netlink(underlay[1]).link(link)
            assert fetch(underlay[0], vteps[1])[1] == MESH[1]
        for i, s in enumerate(svcs):
            s.remove_service_ports("web")
            s.sandbox_remove(f"{i + 1}" * 64)
            s.reaper.drain()
            s.remove(NET)
            assert Netlink(underlay[i]).link(link) is None
    finally:
        for s in svcs:
            s.teardown()
    assert [host_counts(h) for h in underlay] == before
    made_by_tests = str(tmp_path / "ns")
    assert {m for m in root_netns_files() - mounts
            if m.startswith(str(tmp_path)) and not m.startswith(made_by_tests)} == set()
