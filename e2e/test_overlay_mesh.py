"""Three lab hosts: service discovery, VIPs and the routing mesh across hosts.

`web` runs on the two workers, on an overlay network and publishing 8080 in
ingress mode; `client` runs on the manager. From the client, `web` resolves
to the VIP and reaches the tasks on the other hosts, `tasks.web` lists them
all; port 8080 answers on every host (the manager has no web task) and
reaches tasks on several hosts; scaling web moves the VIP and the mesh with
it; removing the services takes the mesh endpoints and ports away. The lab
fixture checks that nothing is left once the lab is down.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from typing import Any

from e2e.stackcheck import api, until

LAB = {"nodes": 3, "managers": 1, "registry": False}
WEB = ("sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www")


def _running(m: Any, service: str) -> list[dict[str, Any]]:
    filters = json.dumps({"service": [service], "desired-state": ["running"]})
    return [t for t in api(m, "/tasks", {"filters": filters})
            if t["Status"]["State"] == "running"]


def _client(m: Any) -> str:
    out = m.cli("ps", "-q", "--filter", "label=com.docker.swarm.service.name=client").stdout
    return out.split()[0] if out.split() else ""


def _in_client(m: Any, cid: str, *argv: str) -> str:
    try:
        r = m.cli("exec", cid, *argv, timeout=30)
    except subprocess.TimeoutExpired:
        return ""
    return r.stdout.strip() if r.returncode == 0 else ""


def _lookup(m: Any, cid: str, name: str) -> list[str]:
    out = _in_client(m, cid, "nslookup", name)
    ips = []
    for line in out.splitlines()[2:]:  # skip the server's own lines
        for word in line.replace(":", " ").split():
            try:
                ips.append(str(ipaddress.IPv4Address(word)))
            except ValueError:
                pass
    return sorted(set(ips))


def _n_running(m: Any, service: str, n: int) -> list[dict[str, Any]]:
    ts = _running(m, service)
    return ts if len(ts) == n else []


def _spread(get: Any, tries: int, at_least: int) -> set[str]:
    """Return what GET() answered over TRIES calls if that is AT_LEAST distinct answers."""
    got = {get() for _ in range(tries)} - {""}
    return got if len(got) >= at_least else set()


def _fetch(host: Any, addr: str) -> str:
    """Return the page at ADDR:8080 fetched from HOST's namespace ("" if none)."""
    code = ("import socket, sys\n"
            f"s = socket.create_connection(({addr!r}, 8080), 3)\n"
            "s.settimeout(3)\n"
            "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
            "data = b''\n"
            "while (more := s.recv(4096)):\n"
            "    data += more\n"
            "sys.stdout.write(data.decode().partition('\\r\\n\\r\\n')[2])\n")
    r = host.exec(sys.executable, "-c", code)
    return r.stdout.strip() if r.returncode == 0 else ""


def test_vip_dns_and_routing_mesh_across_three_hosts(lab: Any) -> None:
    m = lab.managers[0]
    m.cli("network", "create", "-d", "overlay", "app", check=True)
    m.cli("service", "create", "-d", "--name", "web", "--network", "app", "-p", "8080:80",
          "--replicas", "2", "--replicas-max-per-node", "1", "--constraint",
          "node.role==worker", "busybox", *WEB, check=True)
    m.cli("service", "create", "-d", "--name", "client", "--network", "app", "--constraint",
          "node.role==manager", "busybox", "sleep", "100000", check=True)
    web = until(lambda: _n_running(m, "web", 2), what="web runs")
    assert len({t["NodeID"] for t in web}) == 2
    (svc,) = json.loads(m.cli("service", "inspect", "web", check=True).stdout)
    net_id = json.loads(m.cli("network", "inspect", "app", check=True).stdout)[0]["Id"]
    vip = next(str(ipaddress.ip_interface(v["Addr"]).ip)
               for v in svc["Endpoint"]["VirtualIPs"] if v["NetworkID"] == net_id)

    def task_ips() -> list[str]:
        return sorted(str(ipaddress.ip_interface(a).ip) for t in _running(m, "web")
                      for att in t["NetworksAttachments"] if att["Network"]["ID"] == net_id
                      for a in att["Addresses"])

    cid = until(lambda: _client(m), what="client container")
    # on the manager: `web` is the VIP, `tasks.web` every task, on the other two hosts
    assert until(lambda: _lookup(m, cid, "web") == [vip], what="web -> VIP")
    assert until(lambda: _lookup(m, cid, "tasks.web") == task_ips(), what="tasks.web")
    def ask_web() -> str:
        return _in_client(m, cid, "wget", "-q", "-O", "-", "http://web/")

    names = until(lambda: _spread(ask_web, 20, 2), what="web answers through its VIP")
    assert len(names) == 2, names  # both tasks, on the two workers

    # the routing mesh: 8080 on every host, loopback and underlay address, tasks on both
    hosts = lab.hosts
    for i, h in enumerate(hosts):
        got = until(lambda h=h: _spread(lambda: _fetch(h, "127.0.0.1"), 20, 2),
                    what=f"8080 on {h.name}'s loopback")
        assert got == names
        assert until(lambda h=h: _spread(lambda: _fetch(h, h.addr), 20, 2),
                     what=f"8080 on {h.name}'s address") == names
        other = hosts[(i + 1) % len(hosts)]
        assert until(lambda h=h, other=other: _fetch(other, h.addr),
                     what=f"8080 on {h.name} from {other.name}") in names

    # scale: the VIP and the mesh follow the tasks
    m.cli("service", "update", "-d", "--replicas-max-per-node", "0", "--constraint-rm",
          "node.role==worker", "--replicas", "4", "web", check=True)
    until(lambda: _n_running(m, "web", 4), what="4 web tasks")
    assert until(lambda: len(task_ips()) == 4 and _lookup(m, cid, "tasks.web") == task_ips(),
                 what="tasks.web lists 4")
    assert len(until(lambda: _spread(ask_web, 40, 4), what="the VIP spreads over 4")) == 4
    assert until(lambda: _spread(lambda: _fetch(lab.hosts[-1], "127.0.0.1"), 40, 4),
                 what="the mesh spreads over the 4 tasks")

    # removing the services takes the ports and the mesh endpoints away on every host
    m.cli("service", "rm", "web", "client", check=True)
    for h in lab.hosts:
        until(lambda h=h: _fetch(h, "127.0.0.1") == "" and "shvi" not in h.exec(
            "ip", "-o", "link").stdout, what=f"no mesh left on {h.name}")
    m.cli("network", "rm", "app", check=True)
