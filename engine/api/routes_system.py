"""System routes: /_ping, /version, /info."""

from __future__ import annotations

import os
import platform

from aiohttp import web

from shoal import API_VERSION, MIN_API_VERSION, __version__
from shoal.engine.api.app import ENGINE_KEY, add, json_response


async def ping(request: web.Request) -> web.Response:
    headers = {"Api-Version": API_VERSION, "OSType": "linux", "Docker-Experimental": "false",
               "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}
    body = "" if request.method == "HEAD" else "OK"
    return web.Response(text=body, headers=headers, content_type="text/plain")


async def version(request: web.Request) -> web.Response:
    u = os.uname()
    return json_response({
        "Platform": {"Name": "shoal"},
        "Components": [{"Name": "Engine", "Version": __version__, "Details": {}}],
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "python" + platform.python_version(),
        "Os": "linux",
        "Arch": "amd64" if u.machine == "x86_64" else u.machine,
        "KernelVersion": u.release,
        "BuildTime": "",
    })


async def info(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    cs = engine.containers.list(all=True)
    running = sum(1 for c in cs if c.running)
    u = os.uname()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return json_response({
        "ID": engine.node_id,
        "Containers": len(cs),
        "ContainersRunning": running,
        "ContainersPaused": 0,
        "ContainersStopped": len(cs) - running,
        "Images": len(engine.images.list()),
        "Driver": "overlay2",
        "DockerRootDir": str(engine.config.data_root),
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": engine.cgroup_version,
        "KernelVersion": u.release,
        "OperatingSystem": "shoal on " + platform.platform(),
        "OSType": "linux",
        "Architecture": u.machine,
        "NCPU": os.cpu_count() or 1,
        "MemTotal": mem,
        "Name": u.nodename,
        "ServerVersion": __version__,
        "Swarm": _swarm_info(request),
        "Runtimes": {"shoal-shim": {"path": "shoal-shim"}},
        "DefaultRuntime": "shoal-shim",
        "LoggingDriver": "json-file",
        "SecurityOptions": ["name=no-new-privileges"],
    })


def _swarm_info(request: web.Request) -> dict[str, object]:
    """Return /info's Swarm section (what `docker swarm init` and `docker info` read)."""
    from shoal.engine.api.routes_swarm import CLUSTER_KEY

    node = request.app.get(CLUSTER_KEY)
    state = getattr(node, "state", None)
    if state is None:
        return {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                "ControlAvailable": False, "Error": "", "RemoteManagers": None}
    managers = [{"NodeID": state.node_id, "Addr": state.advertise_addr}] \
        if state.role == "manager" else [{"NodeID": "", "Addr": a} for a in state.managers]
    return {
        "NodeID": state.node_id,
        "NodeAddr": state.advertise_addr.rpartition(":")[0],
        "LocalNodeState": "active",
        "ControlAvailable": state.role == "manager",
        "Error": "",
        "RemoteManagers": managers,
        "Cluster": {"ID": state.cluster_id},
    }


def register(app: web.Application) -> None:
    add(app, "GET", "/_ping", ping)
    add(app, "HEAD", "/_ping", ping)
    add(app, "GET", "/version", version)
    add(app, "GET", "/info", info)
