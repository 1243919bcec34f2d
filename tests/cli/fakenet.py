"""Network and volume routes of the fake daemon (Docker Engine API v1.44 shapes).

``install(daemon)`` adds ``daemon.networks`` (name -> NetworkResource, with the
predefined bridge/host/none) and ``daemon.volumes`` (name -> Volume) and the
routes that manage them; every request is still recorded in ``daemon.requests``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

PREDEFINED = ("bridge", "host", "none")


def _id(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def _network(name: str, driver: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Id": _id("net-" + name), "Created": "2024-01-01T00:00:00Z",
            "Scope": "local", "Driver": driver, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": []},
            "Internal": False, "Attachable": False, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
            "Options": {}, "Labels": {}, **extra}


def install(daemon: Any) -> None:
    daemon.networks = {"bridge": _network("bridge", "bridge"), "host": _network("host", "host"),
                       "none": _network("none", "null")}
    daemon.volumes = {}
    r = daemon.route
    r("POST", r"/networks/create", h_network_create)
    r("GET", r"/networks", lambda d, q: q.conn.respond(200, list(d.networks.values())))
    r("GET", r"/networks/([^/]+)", h_network_inspect)
    r("DELETE", r"/networks/([^/]+)", h_network_rm)
    r("POST", r"/networks/prune", h_network_prune)
    r("POST", r"/networks/([^/]+)/(connect|disconnect)", h_network_connect)
    r("POST", r"/volumes/create", h_volume_create)
    r("GET", r"/volumes", lambda d, q: q.conn.respond(
        200, {"Volumes": list(d.volumes.values()), "Warnings": []}))
    r("GET", r"/volumes/([^/]+)", h_volume_inspect)
    r("DELETE", r"/volumes/([^/]+)", h_volume_rm)
    r("POST", r"/volumes/prune", h_volume_prune)


def find_network(d: Any, ref: str) -> dict[str, Any] | None:
    for n in d.networks.values():
        if ref in (n["Name"], n["Id"]) or (len(ref) >= 4 and n["Id"].startswith(ref)):
            return n
    return None


def h_network_create(d: Any, q: Any) -> None:
    body = q.json()
    name = body["Name"]
    if name in d.networks:
        q.conn.respond(409, {"message": f"network with name {name} already exists"})
        return
    d.networks[name] = _network(name, body.get("Driver") or "bridge",
                                Internal=bool(body.get("Internal")),
                                Labels=body.get("Labels") or {})
    q.conn.respond(201, {"Id": d.networks[name]["Id"], "Warning": ""})


def h_network_inspect(d: Any, q: Any) -> None:
    n = find_network(d, q.match.group(1))
    if n is None:
        q.conn.respond(404, {"message": f"network {q.match.group(1)} not found"})
        return
    q.conn.respond(200, n)


def h_network_rm(d: Any, q: Any) -> None:
    n = find_network(d, q.match.group(1))
    if n is None:
        q.conn.respond(404, {"message": f"network {q.match.group(1)} not found"})
        return
    if n["Name"] in PREDEFINED:
        q.conn.respond(403, {"message": f"{n['Name']} is a pre-defined network and cannot "
                                        "be removed"})
        return
    del d.networks[n["Name"]]
    q.conn.respond(204)


def h_network_prune(d: Any, q: Any) -> None:
    gone = [name for name, n in d.networks.items()
            if name not in PREDEFINED and not n["Containers"]]
    for name in gone:
        del d.networks[name]
    q.conn.respond(200, {"NetworksDeleted": gone})


def h_network_connect(d: Any, q: Any) -> None:
    n = find_network(d, q.match.group(1))
    if n is None:
        q.conn.respond(404, {"message": f"network {q.match.group(1)} not found"})
        return
    container = q.json()["Container"]
    if q.match.group(2) == "connect":
        n["Containers"][container] = {"Name": container}
    else:
        n["Containers"].pop(container, None)
    q.conn.respond(200, b"")


def h_volume_create(d: Any, q: Any) -> None:
    body = q.json()
    name = body.get("Name") or _id(f"vol{len(d.volumes)}")
    d.volumes[name] = {"CreatedAt": "2024-01-01T00:00:00Z",
                       "Driver": body.get("Driver") or "local",
                       "Labels": body.get("Labels") or None,
                       "Mountpoint": f"/var/lib/shoal/volumes/{name}/_data", "Name": name,
                       "Options": body.get("DriverOpts") or None, "Scope": "local",
                       "anonymous": not body.get("Name")}
    q.conn.respond(201, {k: v for k, v in d.volumes[name].items() if k != "anonymous"})


def h_volume_inspect(d: Any, q: Any) -> None:
    v = d.volumes.get(q.match.group(1))
    if v is None:
        q.conn.respond(404, {"message": f"get {q.match.group(1)}: no such volume"})
        return
    q.conn.respond(200, {k: val for k, val in v.items() if k != "anonymous"})


def h_volume_rm(d: Any, q: Any) -> None:
    name = q.match.group(1)
    if name not in d.volumes:
        if q.q("force") == "1":
            q.conn.respond(204)
            return
        q.conn.respond(404, {"message": f"get {name}: no such volume"})
        return
    del d.volumes[name]
    q.conn.respond(204)


def h_volume_prune(d: Any, q: Any) -> None:
    filters = json.loads(q.q("filters") or "{}")
    everything = "true" in filters.get("all", {})
    gone = [name for name, v in d.volumes.items() if everything or v["anonymous"]]
    for name in gone:
        del d.volumes[name]
    q.conn.respond(200, {"VolumesDeleted": gone, "SpaceReclaimed": 1_234_567 * len(gone)})
