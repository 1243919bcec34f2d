"""The node: what makes one shoald part of a cluster (docs/cluster.md).

`Node` is the daemon's ClusterBackend (manager/dockerapi/backend.py): it
initialises or joins a cluster, runs this host's Agent, and — on managers —
an embedded etcd (unless given external endpoints) and a Manager. Its state
lives in <data_root>/swarm: the node's credentials and state.json, so a
restarted shoald resumes its role; containers keep running meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shoal.engine.errors import Conflict, InvalidArgument
from shoal.manager.dockerapi.backend import ControlAPI, ServiceLogOptions
from shoal.manager.dockerapi.errors import NOT_PART_OF_SWARM, AlreadyInSwarm, NotInSwarm, NotManager

log = logging.getLogger(__name__)

DEFAULT_PORT = 4242
READY_TIMEOUT = 10.0  # init and join wait this long at most for the agent's session
SYSTEM_ERR = 3  # the stream of Docker's multiplexed framing for the daemon's own errors


@dataclass
class NodeState:
    """What a node remembers of its cluster (state.json)."""

    node_id: str
    cluster_id: str
    role: str  # "manager" | "worker"
    advertise_addr: str
    listen_addr: str
    managers: list[str] = field(default_factory=list)
    etcd_endpoints: list[str] = field(default_factory=list)
    etcd_embedded: bool = False
    etcd_client_port: int = 0
    etcd_peer_port: int = 0
    # The embedded member (shoal/node_etcd.py): its etcd name and id.
    etcd_name: str = ""
    etcd_member_id: int = 0

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> NodeState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None


def _addr(value: str, default_host: str = "") -> str:
    """Return HOST:PORT from "host", "host:port" or ":port" (default port 4242)."""
    value = (value or "").strip()
    if not value:
        if not default_host:
            raise InvalidArgument("an address is required (--advertise-addr)")
        return f"{default_host}:{DEFAULT_PORT}"
    if value.startswith(":"):
        value = (default_host or "0.0.0.0") + value
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        return f"{value}:{DEFAULT_PORT}"
    if not host:
        raise InvalidArgument(f"invalid address {value!r}")
    return value


def _addresses(req: dict[str, Any], toward: str = "") -> tuple[str, str]:
    """Return (advertise, listen) HOST:PORT; an address without a port takes the other's.

    Without an advertise address, the one this host reaches TOWARD (a manager's
    host) from is used, else the default route's.
    """
    listen_raw = str(req.get("ListenAddr") or "")
    adv_raw = str(req.get("AdvertiseAddr") or "")
    listen = _addr(listen_raw, "0.0.0.0")
    adv_has_port = adv_raw.rpartition(":")[2].isdigit() and ":" in adv_raw
    adv = _addr(adv_raw, _guess_advertise(toward))
    if not adv_has_port:
        adv = adv.rpartition(":")[0] + ":" + listen.rpartition(":")[2]
    elif not listen_raw or listen_raw in ("0.0.0.0:2377", f"0.0.0.0:{DEFAULT_PORT}"):
        listen = "0.0.0.0:" + adv.rpartition(":")[2]
    return adv, listen


def _guess_advertise(toward: str = "") -> str:
    """Return this host's address on the route to TOWARD, else the default route's.

    A host in a network namespace with no default route (a lab host) still
    finds the address its peers reach it on: etcd peer URLs need it.
    """
    import socket

    for target in (toward, "192.0.2.1"):
        if not target:
            continue
        with contextlib.suppress(OSError):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((target, 9))  # no packet is sent: this only picks a route
                return str(s.getsockname()[0])
    return "127.0.0.1"


class Node:
    """This host's cluster membership: manager and/or agent, resumed at start."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.dir: Path = engine.config.data_root / "swarm"
        self.state: NodeState | None = None
        self.creds: Any = None
        self.etcd: Any = None
        self.manager: Any = None
        self.agent: Any = None
        self._channel: Any = None
        self._control: Any = None
        self._lock = asyncio.Lock()
        self._role_watch: asyncio.Task[None] | None = None

    # ---- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Resume the role this node had before shoald stopped."""
        state = NodeState.load(self.dir / "state.json")
        if state is None:
            return
        from shoal.manager.ca.credentials import NodeCredentials

        self.state = state
        self.creds = NodeCredentials.load(self.dir / "certs")
        try:
            await self._run_role()
        except Exception:
            log.exception("could not resume cluster role %s; the engine keeps serving",
                          state.role)

    async def stop(self) -> None:
        """Stop agent, manager and embedded etcd; containers keep running."""
        if self._role_watch is not None and self._role_watch is not asyncio.current_task():
            self._role_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._role_watch
            self._role_watch = None
        await self._stop_parts()

    async def _stop_parts(self, parts: tuple[str, ...] = ("agent", "manager", "etcd"),
                          timeout: float = 15.0) -> None:
        """Stop the parts in order; a part that hangs (a dead peer) is logged and dropped."""
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
            self._channel = self._control = None
        for name in parts:
            part = getattr(self, name)
            if part is None:
                continue
            t0 = time.monotonic()
            try:
                await asyncio.wait_for(part.stop(), timeout)
            except TimeoutError:
                log.warning("stopping the %s took over %.0f s; dropped it", name, timeout)
            except Exception as exc:
                log.warning("stopping the %s failed: %s", name, exc)
            else:
                if time.monotonic() - t0 > 2:
                    log.info("stopping the %s took %.1f s", name, time.monotonic() - t0)
            setattr(self, name, None)

    async def _start_etcd(self, state: NodeState, seeds: list[str]) -> None:
        """Run this host's etcd member: restart it, join the members at SEEDS, or start one."""
        from shoal.node_etcd import LocalMember

        state.etcd_name = state.etcd_name or state.node_id or "shoal"
        member = LocalMember(self.dir, name=state.etcd_name,
                             host=state.advertise_addr.rpartition(":")[0],
                             client_port=state.etcd_client_port, peer_port=state.etcd_peer_port)
        self.etcd = member
        await member.start(seeds)
        state.etcd_client_port = member.config.client_port
        state.etcd_peer_port = member.config.peer_port
        state.etcd_member_id = member.member_id
        state.etcd_endpoints = list(member.endpoints)

    async def _retire_manager(self, force: bool) -> None:
        """Stop the manager and agent, and take this host's member out of etcd.

        The quorum check comes first, so a refused demotion leaves the node
        running as a manager (the role watch tries again later).
        """
        member, state = self.etcd, self.state
        if member is not None:
            await member.check_retire(force)
            store = getattr(self.manager, "store", None)
            if store is not None and state is not None:
                await member.unpublish(store, state.node_id)
        await self._stop_parts(("agent", "manager"))
        if member is not None:
            self.etcd = None
            await member.retire(force=True)  # quorum was checked above
        if state is not None:
            state.etcd_member_id = state.etcd_client_port = state.etcd_peer_port = 0
            state.etcd_endpoints = []

    async def _run_role(self) -> None:
        """Start etcd (embedded, managers), the Manager (managers) and the Agent."""
        state = self.state
        assert state is not None and self.creds is not None
        if state.role == "manager":
            from shoal.manager.manager import Manager, ManagerConfig

            if state.etcd_embedded and self.etcd is None:
                await self._start_etcd(state, list(state.etcd_endpoints))
            self.manager = Manager(ManagerConfig(
                node_id=state.node_id, cluster_id=state.cluster_id,
                listen_addr=state.listen_addr, advertise_addr=state.advertise_addr,
                etcd_endpoints=state.etcd_endpoints,
            ), self.creds)
            await self.manager.start()
            if self.etcd is not None:
                await self.etcd.publish(self.manager.store, state.node_id)
        await self._start_agent()
        state.save(self.dir / "state.json")
        if self._role_watch is None or self._role_watch.done():
            self._role_watch = asyncio.create_task(self._watch_role(), name="role-watch")

    async def _watch_role(self, period: float = 1.0) -> None:
        """Follow `node promote/demote`: renew the certificate, then run the new role."""
        from shoal.manager.ca.node import renew
        from shoal.proto.shoal.v1 import types_pb2

        while True:
            await asyncio.sleep(period)
            node = getattr(self.agent, "node", None)
            state = self.state
            if node is None or state is None:
                continue
            want = "manager" if node.spec.desired_role == types_pb2.MANAGER else "worker"
            if want == state.role:
                continue
            log.info("node %s: desired role %s, running as %s", state.node_id[:12], want,
                     state.role)
            managers = [state.advertise_addr] if state.role == "manager" else state.managers
            try:
                async with self._lock:
                    creds = await renew(managers[0], self.creds)
                    have = "manager" if creds.identity.role_name == "manager" else "worker"
                    if have != want:
                        continue  # the managers have not agreed yet: try again later
                    log.info("this node becomes a %s", want)
                    if want == "manager":
                        await self._learn_etcd(managers[0], creds, state)
                        await self._stop_parts()
                    else:
                        state.managers = self._manager_addrs() or managers
                        await self._retire_manager(force=False)
                    creds.save(self.dir / "certs")
                    self.creds, state.role = creds, want
                    await self._run_role()
            except Exception as exc:  # keep serving in the old role, retry later
                log.warning("role change to %s failed: %s", want, exc)

    def _manager_addrs(self) -> list[str]:
        """Return the managers the agent last heard of (SessionMessage)."""
        peers = getattr(self.agent, "managers", None) or []
        return [p for p in peers if isinstance(p, str) and p != (self.state.advertise_addr
                                                                   if self.state else "")]

    @staticmethod
    async def _learn_etcd(addr: str, creds: Any, state: NodeState) -> None:
        """Read the store's endpoints from the cluster object (needs a manager certificate)."""
        from shoal.manager.ca.tls import secure_channel
        from shoal.proto.shoal.v1 import control_pb2, control_pb2_grpc

        async with secure_channel(addr, creds) as ch:
            resp = await control_pb2_grpc.ControlStub(ch).ListClusters(
                control_pb2.ListClustersRequest(), timeout=10)
        state.etcd_endpoints = list(resp.clusters[0].etcd_endpoints)
        state.etcd_embedded = resp.clusters[0].etcd_embedded

    async def _start_agent(self) -> None:
        from shoal.agent.agent import Agent
        from shoal.agent.config import AgentConfig
        from shoal.agent.exec.engine import EngineExecutor
        from shoal.agent.logs import EngineLogSource
        from shoal.manager.ca.tls import channel_credentials

        state = self.state
        assert state is not None
        managers = [state.advertise_addr] if state.role == "manager" else state.managers
        cfg = AgentConfig(node_id=state.node_id, state_dir=self.dir / "agent",
                          addr=state.advertise_addr.rpartition(":")[0], role=state.role)
        self.agent = Agent(cfg, EngineExecutor(self.engine), channel_credentials(self.creds),
                           managers, logs=EngineLogSource(self.engine, state.node_id))
        await self.agent.start()

    async def _agent_session(self, timeout: float) -> None:
        """Wait until the agent has a session with a manager (its node is READY then).

        dockerd's swarm init and join return once the node is ready, so a
        `node ls` right after shows it Ready; a slow session is logged, not fatal.
        """
        agent = self.agent
        if agent is None:
            return
        try:
            await asyncio.wait_for(agent.connected.wait(), timeout)
        except TimeoutError:
            log.warning("the agent has no session with a manager after %.0f s; going on",
                        timeout)

    # ---- ClusterBackend ---------------------------------------------------------------
    async def init(self, req: dict[str, Any]) -> str:
        """Start a new cluster with this node as its first manager; return the node id."""
        async with self._lock:
            if self.state is not None:
                raise AlreadyInSwarm()
            from shoal.manager import etcd as etcd_mod
            from shoal.manager.ca.bootstrap import ensure_cluster
            from shoal.manager.ca.service import CAService
            from shoal.manager.dockerapi.swarm import cluster_spec_from_json
            from shoal.manager.store import Store
            from shoal.proto.shoal.v1 import objects_pb2

            adv, listen = _addresses(req)
            external = [e for e in (req.get("EtcdEndpoints") or []) if e]
            self.dir.mkdir(parents=True, exist_ok=True)
            state = NodeState(node_id="", cluster_id="", role="manager", advertise_addr=adv,
                              listen_addr=listen, etcd_endpoints=external,
                              etcd_embedded=not external)
            try:
                if state.etcd_embedded:
                    await self._start_etcd(state, [])
                client = etcd_mod.connect(state.etcd_endpoints)
                store = Store(client)
                await store.start()
                try:
                    spec = cluster_spec_from_json(req.get("Spec") or {}) if req.get("Spec") \
                        else None
                    cluster = await ensure_cluster(store, spec)

                    def endpoints(c: objects_pb2.Cluster) -> bool:
                        del c.etcd_endpoints[:]
                        c.etcd_endpoints.extend(state.etcd_endpoints)
                        c.etcd_embedded = state.etcd_embedded
                        return True

                    await store.mutate(objects_pb2.Cluster, cluster.id, endpoints)
                    creds = await CAService(store, cluster.id).issue_local(
                        addr=adv, availability=str(req.get("Availability") or ""))
                finally:
                    await store.stop()
                    with contextlib.suppress(Exception):
                        await client.close()
                state.node_id, state.cluster_id = creds.node_id, cluster.id
                creds.save(self.dir / "certs")
                self.state, self.creds = state, creds
                await self._run_role()
                await self._agent_session(READY_TIMEOUT)
            except BaseException:
                await self.stop()
                self.state = self.creds = None
                shutil.rmtree(self.dir, ignore_errors=True)
                raise
            return state.node_id

    async def join(self, req: dict[str, Any]) -> None:
        """Join the cluster at RemoteAddrs with JoinToken (as worker or manager)."""
        async with self._lock:
            if self.state is not None:
                raise AlreadyInSwarm()
            from shoal.manager.ca.node import join as ca_join

            remotes = [_addr(a) for a in req.get("RemoteAddrs") or []]
            if not remotes:
                raise InvalidArgument("at least 1 RemoteAddr is required to join")
            adv, listen = _addresses(req, toward=remotes[0].rpartition(":")[0])
            creds = await ca_join(remotes[0], str(req.get("JoinToken") or ""),
                                  availability=str(req.get("Availability") or ""),
                                  advertise_addr=adv)
            role = "manager" if creds.identity.role_name == "manager" else "worker"
            state = NodeState(node_id=creds.node_id, cluster_id=creds.cluster_id, role=role,
                              advertise_addr=adv, listen_addr=listen, managers=remotes)
            self.dir.mkdir(parents=True, exist_ok=True)
            try:
                if role == "manager":
                    await self._learn_etcd(remotes[0], creds, state)
                creds.save(self.dir / "certs")
                self.state, self.creds = state, creds
                await self._run_role()
                await self._agent_session(READY_TIMEOUT)
            except BaseException:
                if self.etcd is not None:  # its member joined: take it out again
                    with contextlib.suppress(Exception):
                        await self._retire_manager(force=True)
                await self.stop()
                self.state = self.creds = None
                shutil.rmtree(self.dir, ignore_errors=True)
                raise

    async def leave(self, force: bool) -> None:
        """Leave the cluster: stop agent and manager, forget the credentials."""
        async with self._lock:
            if self.state is None:
                raise NotInSwarm(NOT_PART_OF_SWARM)
            if self.state.role == "manager" and not force:
                what = "the cluster without the manager it runs"
                if self.etcd is not None:
                    with contextlib.suppress(Exception):
                        await self.etcd.refresh()
                    n = len(self.etcd.endpoints)
                    what = (f"{n - 1} etcd members out of {n}. Without an etcd quorum "
                            f"({n // 2 + 1} of {n}) the cluster will be inaccessible")
                raise Conflict(
                    "You are attempting to leave the swarm on a node that is participating as "
                    f"a manager. Removing this node leaves {what}; use `--force` to ignore "
                    "this message."
                )
            node_id = self.state.node_id
            if self.state.role == "manager":
                await self._retire_manager(force=True)
            await self.stop()
            self.state = self.creds = None
            shutil.rmtree(self.dir, ignore_errors=True)
            from shoal.agent.exec.networks import leave_cluster

            await leave_cluster(self.engine, node_id)

    def control(self) -> ControlAPI:
        """Return a Control API client on this node's own manager."""
        if self.state is None:
            raise NotInSwarm()
        if self.state.role != "manager" or self.manager is None:
            raise NotManager()
        if self._control is None:
            from shoal.manager.ca.tls import secure_channel
            from shoal.proto.shoal.v1 import control_pb2_grpc

            host, _, port = self.state.advertise_addr.rpartition(":")
            local = f"127.0.0.1:{self.manager.ports[0] or port}" if host else \
                self.state.advertise_addr
            self._channel = secure_channel(local, self.creds)
            self._control = control_pb2_grpc.ControlStub(self._channel)
        return self._control

    async def service_logs(
        self, service_id: str, opts: ServiceLogOptions
    ) -> AsyncIterator[tuple[int, bytes]]:
        """Yield the logs of the service's tasks on every node, gathered by the log broker.

        The agents of the nodes that run its tasks read and send them
        (manager/logbroker, agent/logs.py). Nodes that did not answer are
        named at the end on stream 3, which Docker's CLI prints as "error from
        daemon in stream: Error grabbing logs: warning: incomplete log stream...".
        """
        from shoal.manager.logbroker import docker_line
        from shoal.proto.shoal.v1 import logbroker_pb2 as lpb

        broker = getattr(self.manager, "logbroker", None)
        if broker is None:
            raise NotManager()
        options = lpb.LogSubscriptionOptions(
            follow=opts.follow, tail=-1 if opts.tail is None else opts.tail)
        if opts.stdout:
            options.streams.append(lpb.LOG_STREAM_STDOUT)
        if opts.stderr:
            options.streams.append(lpb.LOG_STREAM_STDERR)
        if opts.since:
            options.since.FromNanoseconds(int(opts.since * 1e9))
        async with broker.subscribe(service_id, options) as sub:
            async for msg in sub:
                yield int(msg.stream), docker_line(msg, timestamps=opts.timestamps,
                                                   with_details=opts.details)
            warning = sub.warning()
        if warning:
            yield SYSTEM_ERR, f"Error grabbing logs: {warning}\n".encode()
