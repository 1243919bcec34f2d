"""Form a lab's cluster: init on the first manager, join the others, wait for Ready.

Managers join one after another (each manager join grows the embedded etcd
by one member, which must not race another), workers then join in parallel.
The lab speaks the Docker API to each host's shoald over its unix socket,
exactly as `shoal swarm init/join` would.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from shoal.cli.client import Client
from shoal.cli.errors import CLIError

from .errors import LabSystemError
from .model import HostState

PORT = 4242


def _call(h: HostState, method: str, path: str, body: Any = None) -> Any:
    c = Client(h.host)
    try:
        return c.request(method, path, body=body).json()
    except CLIError as exc:
        raise LabSystemError(f"{h.name}: {method} {path}: {exc}") from exc
    finally:
        c.close()


def form(managers: list[HostState], workers: list[HostState], timeout: float = 120) -> None:
    """Make MANAGERS[0] init a cluster, join the rest, wait until every node is Ready."""
    first = managers[0]
    _call(first, "POST", "/swarm/init", {"AdvertiseAddr": f"{first.addr}:{PORT}",
                                         "ListenAddr": f"0.0.0.0:{PORT}"})
    tokens = (_call(first, "GET", "/swarm") or {}).get("JoinTokens") or {}
    remote = f"{first.addr}:{PORT}"

    def join(h: HostState, token: str) -> None:
        _call(h, "POST", "/swarm/join", {"AdvertiseAddr": f"{h.addr}:{PORT}",
                                         "ListenAddr": f"0.0.0.0:{PORT}",
                                         "RemoteAddrs": [remote], "JoinToken": token})

    for h in managers[1:]:
        join(h, tokens["Manager"])
    errors: list[BaseException] = []

    def join_worker(h: HostState) -> None:
        try:
            join(h, tokens["Worker"])
        except BaseException as exc:  # reported by the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=join_worker, args=(h,)) for h in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    wait_ready(first, len(managers) + len(workers), timeout)


def nodes(h: HostState) -> list[dict[str, Any]]:
    """Return `GET /nodes` as seen by manager H."""
    return list(_call(h, "GET", "/nodes") or [])


def wait_ready(h: HostState, count: int, timeout: float) -> None:
    """Wait until manager H lists COUNT nodes, all Ready."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        ns = nodes(h)
        seen = [f"{(n.get('Description') or {}).get('Hostname', '?')}="
                f"{(n.get('Status') or {}).get('State', '?')}" for n in ns]
        if len(ns) == count and all((n.get("Status") or {}).get("State") == "ready"
                                    for n in ns):
            return
        if time.monotonic() >= deadline:
            raise LabSystemError(f"the cluster has not got {count} Ready nodes after "
                                 f"{timeout:.0f}s: {', '.join(seen) or 'none'}")
        time.sleep(0.1)


def etcd_members(h: HostState) -> list[dict[str, Any]]:
    """Return the members of the etcd that manager H's embedded etcd belongs to.

    Asks etcd's JSON gateway (POST /v3/cluster/member/list) on the client URL
    in H's node state; the root namespace reaches it over the lab bridge.
    """
    import json
    import urllib.request

    try:
        node = json.loads((h.data_root / "swarm" / "state.json").read_text())
        url = f"http://{node['etcd_endpoints'][0]}/v3/cluster/member/list"
        req = urllib.request.Request(url, data=b"{}", method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
        with opener.open(req, timeout=5) as r:
            return list(json.loads(r.read()).get("members") or [])
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise LabSystemError(f"{h.name}: listing etcd members: {exc}") from exc
