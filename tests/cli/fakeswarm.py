"""Swarm routes for the fake daemon: /swarm, /nodes, /services, /tasks, /networks.

A small in-memory orchestrator, enough to exercise the CLI: creating or
scaling a service makes one task per slot; every GET /tasks moves each live
task one state forward (new, pending, assigned, preparing, starting, running),
so the CLI's progress display sees tasks converge over a few polls. Special
cases drive error paths:

    constraint "node.labels.slow==1"   tasks stay pending with a scheduler error
                                       for PENDING_POLLS polls, then go on
    image "fail:*"                     the first task of each slot fails with an
                                       error and is replaced

Everything is recorded in ``daemon.requests`` like the other routes.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from tests.cli.fakedaemon import FakeDaemon, Request, frame

STEPS = ["new", "pending", "assigned", "preparing", "starting", "running"]
PENDING_POLLS = 3


def _id(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:25]


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _filters(req: Request) -> dict[str, list[str]]:
    raw = req.q("filters")
    if not raw:
        return {}
    doc = json.loads(raw)
    return {k: list(v) if isinstance(v, list) else list(v.keys()) for k, v in doc.items()}


class Swarm:
    """The fake cluster's state."""

    def __init__(self, daemon: FakeDaemon) -> None:
        self.d = daemon
        self.active = False
        self.version = 1
        self.spec: dict[str, Any] = {}
        self.tokens = {"Worker": "SWMTKN-1-worker-0", "Manager": "SWMTKN-1-manager-0"}
        self.rotations = 0
        self.node_id = _id("node", "self")
        self.nodes: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.networks: dict[str, dict[str, Any]] = {}
        self.clock = 1_700_000_000.0
        self.logs: list[tuple[int, str, str]] = []  # (stream, task id, line)
        self.next_update_status: dict[str, str] | None = None  # instead of "updating"

    def tick(self) -> str:
        self.clock += 1
        return _stamp(self.clock)

    # -- objects ------------------------------------------------------------------
    def add_node(self, hostname: str, role: str = "worker", node_id: str | None = None,
                 state: str = "ready") -> dict[str, Any]:
        nid = node_id or _id("node", hostname)
        node = {"ID": nid, "Version": {"Index": 1}, "CreatedAt": self.tick(),
                "Spec": {"Role": role, "Availability": "active", "Labels": {}},
                "Description": {"Hostname": hostname,
                                "Platform": {"OS": "linux", "Architecture": "x86_64"},
                                "Resources": {"NanoCPUs": 4_000_000_000,
                                              "MemoryBytes": 8 << 30},
                                "Engine": {"EngineVersion": "0.1.0"}},
                "Status": {"State": state, "Addr": "10.0.0.1"}}
        if role == "manager":
            node["ManagerStatus"] = {"Leader": nid == self.node_id,
                                     "Reachability": "reachable", "Addr": "10.0.0.1:4242"}
        self.nodes[nid] = node
        return node

    def find_service(self, ref: str) -> dict[str, Any] | None:
        for s in self.services.values():
            if ref in (s["ID"], s["Spec"].get("Name")) or (len(ref) >= 4
                                                            and s["ID"].startswith(ref)):
                return s
        return None

    def find_node(self, ref: str) -> dict[str, Any] | None:
        for n in self.nodes.values():
            if ref in (n["ID"], n["Description"]["Hostname"]):
                return n
        return None

    def new_task(self, service: dict[str, Any], slot: int) -> dict[str, Any]:
        tid = _id("task", service["ID"], slot, len(self.tasks))
        now = self.tick()
        task = {"ID": tid, "Version": {"Index": 1}, "CreatedAt": now, "UpdatedAt": now,
                "ServiceID": service["ID"], "Slot": slot, "NodeID": "",
                "Spec": json.loads(json.dumps(service["Spec"]["TaskTemplate"])),
                "DesiredState": "running",
                "Status": {"Timestamp": now, "State": "new", "Message": "created"},
                "polls": 0}
        self.tasks[tid] = task
        return task

    def reconcile(self, service: dict[str, Any]) -> None:
        """Make one live task per slot, shut down extra slots (replicated services)."""
        mode = service["Spec"].get("Mode") or {}
        replicas = (mode.get("Replicated") or {}).get("Replicas", 1) if "Replicated" in mode \
            else 1
        live = {t["Slot"]: t for t in self.tasks.values()
                if t["ServiceID"] == service["ID"] and t["DesiredState"] == "running"}
        for slot, task in live.items():
            if slot > replicas:
                task["DesiredState"] = "shutdown"
                task["Status"].update(State="shutdown", Timestamp=self.tick())
        for slot in range(1, replicas + 1):
            if slot not in live:
                self.new_task(service, slot)

    def advance(self) -> None:
        """Move every live task one state forward (or along its special path)."""
        for t in list(self.tasks.values()):
            if t["DesiredState"] != "running":
                continue
            st = t["Status"]
            t["polls"] += 1
            constraints = (t["Spec"].get("Placement") or {}).get("Constraints") or []
            image = t["Spec"]["ContainerSpec"]["Image"]
            if st["State"] == "pending" and "node.labels.slow==1" in constraints \
                    and t["polls"] <= PENDING_POLLS:
                st["Err"] = "no suitable node (scheduling constraints not satisfied on 1 node)"
                continue
            st.pop("Err", None)
            if image.startswith("fail:") and st["State"] == "starting" and not t.get("retry"):
                st.update(State="failed", Err="task: non-zero exit (1)", Timestamp=self.tick())
                t["DesiredState"] = "shutdown"
                t["UpdatedAt"] = self.tick()
                repl = self.new_task(self.services[t["ServiceID"]], t["Slot"])
                repl["retry"] = True
                continue
            i = STEPS.index(st["State"]) if st["State"] in STEPS else len(STEPS) - 1
            if i + 1 < len(STEPS):
                st.update(State=STEPS[i + 1], Timestamp=self.tick())
                if STEPS[i + 1] == "assigned":
                    t["NodeID"] = self.node_id
            t["UpdatedAt"] = self.tick()
        for s in self.services.values():
            if (s.get("UpdateStatus") or {}).get("State") == "updating":
                own = [t for t in self.tasks.values() if t["ServiceID"] == s["ID"]
                       and t["DesiredState"] == "running"]
                if own and all(t["Status"]["State"] == "running" for t in own):
                    s["UpdateStatus"] = {"State": "completed", "Message": "update completed"}

    def public(self, task: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in task.items() if k not in ("polls", "retry")}


def _not_manager(req: Request) -> None:
    req.conn.respond(503, {"message": "This node is not a swarm manager. Use \"docker swarm "
                                      "init\" or \"docker swarm join\" to connect this node "
                                      "to swarm and try again."})


def install(d: FakeDaemon, active: bool = True) -> Swarm:
    """Add the swarm routes to a fake daemon; ``active``: already a one-node manager."""
    sw = Swarm(d)
    d.swarm = sw  # type: ignore[attr-defined]
    if active:
        sw.active = True
        sw.add_node("node-1", "manager", sw.node_id)
    r = d.route

    def info(_d: FakeDaemon, req: Request) -> None:
        swarm = ({"NodeID": sw.node_id, "ControlAvailable": True, "LocalNodeState": "active"}
                 if sw.active else {"NodeID": "", "LocalNodeState": "inactive"})
        req.conn.respond(200, {"Containers": 0, "Images": 1, "NCPU": 4, "Swarm": swarm})

    def swarm_init(_d: FakeDaemon, req: Request) -> None:
        if sw.active:
            req.conn.respond(503, {"message": "This node is already part of a swarm."})
            return
        sw.active = True
        sw.spec = req.json().get("Spec") or {}
        sw.add_node("node-1", "manager", sw.node_id)
        req.conn.respond(200, json.dumps(sw.node_id).encode(),
                         {"Content-Type": "application/json"})

    def swarm_inspect(_d: FakeDaemon, req: Request) -> None:
        if not sw.active:
            _not_manager(req)
            return
        req.conn.respond(200, {"ID": "cluster1", "Version": {"Index": sw.version},
                               "Spec": sw.spec, "JoinTokens": dict(sw.tokens)})

    def swarm_update(_d: FakeDaemon, req: Request) -> None:
        if req.q("version") != str(sw.version):
            req.conn.respond(500, {"message": "update out of sequence"})
            return
        sw.version += 1
        sw.spec = req.json()
        sw.rotations += 1
        for role in ("Worker", "Manager"):
            if req.q(f"rotate{role}Token") == "true":
                sw.tokens[role] = f"SWMTKN-1-{role.lower()}-{sw.rotations}"
        req.conn.respond(200, b"")

    r("GET", r"/info", info)
    r("POST", r"/swarm/init", swarm_init)
    r("GET", r"/swarm", swarm_inspect)
    r("POST", r"/swarm/join", lambda _d, q: q.conn.respond(200, b""))
    r("POST", r"/swarm/leave", lambda _d, q: q.conn.respond(200, b""))
    r("POST", r"/swarm/update", swarm_update)
    _node_routes(sw)
    _service_routes(sw)
    _network_routes(sw)
    return sw


def _node_routes(sw: Swarm) -> None:
    r = sw.d.route

    def ls(_d: FakeDaemon, req: Request) -> None:
        req.conn.respond(200, list(sw.nodes.values()))

    def one(_d: FakeDaemon, req: Request) -> dict[str, Any] | None:
        assert req.match is not None
        node = sw.find_node(req.match.group(1))
        if node is None:
            req.conn.respond(404, {"message": f"node {req.match.group(1)} not found"})
        return node

    def inspect(d: FakeDaemon, req: Request) -> None:
        node = one(d, req)
        if node is not None:
            req.conn.respond(200, node)

    def update(d: FakeDaemon, req: Request) -> None:
        node = one(d, req)
        if node is None:
            return
        if req.q("version") != str(node["Version"]["Index"]):
            req.conn.respond(500, {"message": "update out of sequence"})
            return
        node["Spec"] = req.json()
        node["Version"]["Index"] += 1
        req.conn.respond(200, b"")

    def rm(d: FakeDaemon, req: Request) -> None:
        node = one(d, req)
        if node is None:
            return
        if node["Status"]["State"] != "down" and req.q("force") != "1":
            req.conn.respond(400, {"message": f"node {node['ID']} is not down and can't be "
                                              "removed"})
            return
        del sw.nodes[node["ID"]]
        req.conn.respond(200, b"")

    r("GET", r"/nodes", ls)
    r("GET", r"/nodes/([^/]+)", inspect)
    r("POST", r"/nodes/([^/]+)/update", update)
    r("DELETE", r"/nodes/([^/]+)", rm)


def _service_routes(sw: Swarm) -> None:
    r = sw.d.route

    def create(_d: FakeDaemon, req: Request) -> None:
        spec = req.json()
        name = spec.get("Name") or f"svc{len(sw.services)}"
        spec["Name"] = name
        if sw.find_service(name):
            req.conn.respond(409, {"message": f"rpc error: code = AlreadyExists desc = name "
                                              f"conflicts with an existing object: service "
                                              f"{name} already exists"})
            return
        sid = _id("service", name)
        service = {"ID": sid, "Version": {"Index": 1}, "CreatedAt": sw.tick(),
                   "UpdatedAt": sw.tick(), "Spec": spec}
        sw.services[sid] = service
        if "Global" in (spec.get("Mode") or {}):
            sw.new_task(service, 0)["NodeID"] = sw.node_id
        else:
            sw.reconcile(service)
        req.conn.respond(201, {"ID": sid, "Warnings": []})

    def matches(s: dict[str, Any], filters: dict[str, list[str]]) -> bool:
        labels = s["Spec"].get("Labels") or {}
        for want in filters.get("label", []):
            key, eq, value = want.partition("=")
            if key not in labels or (eq and labels[key] != value):
                return False
        if "id" in filters and not any(s["ID"].startswith(i) for i in filters["id"]):
            return False
        return "name" not in filters or s["Spec"]["Name"] in filters["name"]

    def ls(_d: FakeDaemon, req: Request) -> None:
        filters = _filters(req)
        out = []
        for s in sw.services.values():
            if not matches(s, filters):
                continue
            doc = dict(s)
            if req.q("status") == "true":
                own = [t for t in sw.tasks.values() if t["ServiceID"] == s["ID"]
                       and t["DesiredState"] == "running"]
                mode = s["Spec"].get("Mode") or {}
                desired = ((mode.get("Replicated") or {}).get("Replicas", 1)
                           if "Replicated" in mode else len(own))
                doc["ServiceStatus"] = {
                    "RunningTasks": sum(t["Status"]["State"] == "running" for t in own),
                    "DesiredTasks": desired}
            out.append(doc)
        req.conn.respond(200, out)

    def one(req: Request) -> dict[str, Any] | None:
        assert req.match is not None
        s = sw.find_service(req.match.group(1))
        if s is None:
            req.conn.respond(404, {"message": f"service {req.match.group(1)} not found"})
        return s

    def inspect(_d: FakeDaemon, req: Request) -> None:
        s = one(req)
        if s is not None:
            req.conn.respond(200, s)

    def update(_d: FakeDaemon, req: Request) -> None:
        s = one(req)
        if s is None:
            return
        if req.q("version") != str(s["Version"]["Index"]):
            req.conn.respond(500, {"message": "update out of sequence"})
            return
        spec = req.json()
        if req.q("rollback") == "previous":
            if "PreviousSpec" not in s:
                req.conn.respond(400, {"message": "service does not have a previous spec"})
                return
            spec = s["PreviousSpec"]
        old_template = s["Spec"].get("TaskTemplate")
        s["PreviousSpec"], s["Spec"] = s["Spec"], spec
        s["Version"]["Index"] += 1
        s["UpdatedAt"] = sw.tick()
        if spec.get("TaskTemplate") != old_template:
            s["UpdateStatus"] = sw.next_update_status or {"State": "updating",
                                                          "Message": "update in progress"}
            for t in sw.tasks.values():
                if t["ServiceID"] == s["ID"] and t["DesiredState"] == "running":
                    t["DesiredState"] = "shutdown"
                    t["Status"].update(State="shutdown", Timestamp=sw.tick())
        sw.reconcile(s)
        req.conn.respond(200, {"Warnings": []})

    def rm(_d: FakeDaemon, req: Request) -> None:
        s = one(req)
        if s is None:
            return
        del sw.services[s["ID"]]
        for tid in [t["ID"] for t in sw.tasks.values() if t["ServiceID"] == s["ID"]]:
            del sw.tasks[tid]
        req.conn.respond(200, b"")

    def tasks(_d: FakeDaemon, req: Request) -> None:
        sw.advance()
        filters = _filters(req)
        out = []
        wanted = None
        if "service" in filters:
            wanted = {(sw.find_service(f) or {"ID": f})["ID"] for f in filters["service"]}
        for t in sw.tasks.values():
            if wanted is not None and t["ServiceID"] not in wanted:
                continue
            if "desired-state" in filters and t["DesiredState"] not in filters["desired-state"]:
                continue
            if "node" in filters and t["NodeID"] not in filters["node"]:
                continue
            out.append(sw.public(t))
        req.conn.respond(200, out)

    def task(_d: FakeDaemon, req: Request) -> None:
        assert req.match is not None
        t = sw.tasks.get(req.match.group(1))
        if t is None:
            req.conn.respond(404, {"message": "task not found"})
        else:
            req.conn.respond(200, sw.public(t))

    def logs(_d: FakeDaemon, req: Request) -> None:
        s = one(req)
        if s is None:
            return
        req.conn.start_chunked(ctype="application/vnd.docker.multiplexed-stream")
        for stream, tid, line in sw.logs:
            t = sw.tasks[tid]
            details = (f"com.docker.swarm.node.id={t['NodeID']},com.docker.swarm.service.id="
                       f"{s['ID']},com.docker.swarm.task.id={tid}")
            text = f"{details} {line}\n"
            if req.q("timestamps") == "1":
                text = "2024-01-01T00:00:00.000000000Z " + text
            req.conn.send_chunk(frame(stream, text.encode()))
        req.conn.end_chunked()

    r("POST", r"/services/create", create)
    r("GET", r"/services", ls)
    r("GET", r"/services/([^/]+)", inspect)
    r("POST", r"/services/([^/]+)/update", update)
    r("DELETE", r"/services/([^/]+)", rm)
    r("GET", r"/services/([^/]+)/logs", logs)
    r("GET", r"/tasks", tasks)
    r("GET", r"/tasks/([^/]+)", task)


def _network_routes(sw: Swarm) -> None:
    r = sw.d.route

    def find(ref: str) -> dict[str, Any] | None:
        return next((n for n in sw.networks.values() if ref in (n["Id"], n["Name"])), None)

    def create(_d: FakeDaemon, req: Request) -> None:
        body = req.json()
        nid = _id("net", body["Name"])
        sw.networks[nid] = {"Id": nid, "Name": body["Name"], "Scope": body.get("Scope", "local"),
                            "Driver": body.get("Driver", "bridge"),
                            "Labels": body.get("Labels") or {}}
        req.conn.respond(201, {"Id": nid, "Warning": ""})

    def ls(_d: FakeDaemon, req: Request) -> None:
        filters = _filters(req)
        out = []
        for n in sw.networks.values():
            ok = True
            for want in filters.get("label", []):
                key, _, value = want.partition("=")
                ok = ok and n["Labels"].get(key) == value
            if ok:
                out.append(n)
        req.conn.respond(200, out)

    def inspect(_d: FakeDaemon, req: Request) -> None:
        assert req.match is not None
        n = find(req.match.group(1))
        if n is None:
            req.conn.respond(404, {"message": f"network {req.match.group(1)} not found"})
        else:
            req.conn.respond(200, n)

    def rm(_d: FakeDaemon, req: Request) -> None:
        assert req.match is not None
        n = find(req.match.group(1))
        if n is None:
            req.conn.respond(404, {"message": "no such network"})
            return
        del sw.networks[n["Id"]]
        req.conn.respond(204)

    r("POST", r"/networks/create", create)
    r("GET", r"/networks", ls)
    r("GET", r"/networks/([^/]+)", inspect)
    r("DELETE", r"/networks/([^/]+)", rm)
