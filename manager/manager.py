"""The manager: store + gRPC server (Control, Dispatcher, LogBroker, CA) on every manager;
orchestrators and scheduler on the leader only (DESIGN.md §4).

    m = Manager(ManagerConfig(...), creds)
    await m.start()        # serves at once; leads when elected
    ...
    await m.stop()

The leader's loops run as one task group per term: the moment the lease is
lost (manager/election.py) the group is cancelled, so a deposed leader stops
writing at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import aetcd
import grpc

from shoal.manager import etcd as etcd_mod
from shoal.manager.ca.credentials import NodeCredentials
from shoal.manager.ca.service import CAService
from shoal.manager.ca.servicer import CAServicer
from shoal.manager.ca.tls import AuthInterceptor, add_ports
from shoal.manager.election import Election, Term
from shoal.manager.store import Store
from shoal.proto.shoal.v1 import ca_pb2_grpc, control_pb2_grpc, dispatcher_pb2_grpc, objects_pb2

log = logging.getLogger(__name__)


@dataclass
class ManagerConfig:
    """How a manager reaches etcd and serves its peers.

    listen_addr:    gRPC main port (mutual TLS); the CA port is the next one.
    advertise_addr: what other nodes dial (host:port).
    etcd_endpoints: client URLs of the etcd cluster.
    election_ttl:   leader lease TTL in seconds (failover is bounded by it).
    """

    node_id: str
    cluster_id: str
    listen_addr: str
    advertise_addr: str
    etcd_endpoints: list[str]
    election_ttl: int = 3  # election.DEFAULT_TTL
    extra: dict[str, Any] = field(default_factory=dict)


class Manager:
    """One manager process's cluster side."""

    def __init__(self, config: ManagerConfig, creds: NodeCredentials) -> None:
        self.config = config
        self.creds = creds
        self.client: aetcd.Client | None = None
        self.store: Store | None = None
        self.server: grpc.aio.Server | None = None
        self.election: Election | None = None
        self.dispatcher: Any = None
        self.logbroker: Any = None
        self.ports: tuple[int, int] = (0, 0)
        self._elect_task: asyncio.Task[None] | None = None
        self.leader_loops: list[Any] = []
        self.is_leader = False

    async def start(self) -> None:
        """Connect to etcd, fill the cache, serve gRPC, and campaign for leadership."""
        from shoal.manager.controlapi.servicer import ControlServicer
        from shoal.manager.dispatcher.auth import tls_identity
        from shoal.manager.dispatcher.dispatcher import Dispatcher
        from shoal.manager.dispatcher.servicer import DispatcherServicer
        from shoal.manager.logbroker import LogBroker
        from shoal.manager.logbroker import add_to_server as add_logbroker

        cfg = self.config
        self.client = etcd_mod.connect(cfg.etcd_endpoints)
        self.store = Store(self.client)
        await self.store.start()
        self.dispatcher = Dispatcher(self.store, manager_id=cfg.node_id)
        await self.dispatcher.start()
        self.logbroker = LogBroker(self.store)
        await self.logbroker.start()
        server = grpc.aio.server(
            interceptors=[AuthInterceptor(cluster_id=cfg.cluster_id)],
            options=[("grpc.max_receive_message_length", 64 << 20),
                     ("grpc.max_send_message_length", 64 << 20)],
        )
        control_pb2_grpc.add_ControlServicer_to_server(
            ControlServicer(self.store, cfg.cluster_id), server
        )
        dispatcher_pb2_grpc.add_DispatcherServicer_to_server(
            DispatcherServicer(self.dispatcher, tls_identity), server
        )
        add_logbroker(server, self.logbroker, tls_identity)
        ca_pb2_grpc.add_CAServicer_to_server(
            CAServicer(CAService(self.store, cfg.cluster_id)), server
        )
        self.ports = add_ports(server, cfg.listen_addr, self.creds)
        await server.start()
        self.server = server
        await self._mark_leader(False)  # this manager is reachable (not leading yet)
        self.election = Election(self.client, cfg.node_id, ttl=cfg.election_ttl)
        self._elect_task = asyncio.create_task(self.election.run(self._lead), name="election")
        log.info("manager %s serving on %s (CA port %d)", cfg.node_id[:12], cfg.listen_addr,
                 self.ports[1])

    async def _lead(self, term: Term) -> None:
        """Run the leader's loops until the term ends (this task is then cancelled)."""
        from shoal.manager.allocator.attachments import Allocator
        from shoal.manager.allocator.reaper import NetworkReaper
        from shoal.manager.orchestrator.global_ import GlobalOrchestrator
        from shoal.manager.orchestrator.reaper import TaskReaper
        from shoal.manager.orchestrator.replicated import ReplicatedOrchestrator
        from shoal.manager.raft_leader import RaftLeaderAway
        from shoal.manager.scheduler.scheduler import Scheduler

        assert self.store is not None
        log.info("manager %s leads (term %d)", self.config.node_id[:12], term.revision)
        self.is_leader = True
        await self._mark_leader(True)
        self.leader_loops = [
            Allocator(self.store),
            ReplicatedOrchestrator(self.store),
            GlobalOrchestrator(self.store),
            Scheduler(self.store),
            TaskReaper(self.store),
            NetworkReaper(self.store),
            self.dispatcher.judge,  # which nodes are DOWN: the leader decides
            RaftLeaderAway(self.config.etcd_endpoints[0],
                           self.config.advertise_addr.rpartition(":")[0], self._embedded),
        ]
        try:
            await asyncio.gather(*(loop.run() for loop in self.leader_loops))
        finally:
            self.is_leader = False
            self.leader_loops = []
            log.info("manager %s no longer leads", self.config.node_id[:12])

    def _embedded(self) -> bool:
        """Return whether the managers run the cluster's etcd members themselves."""
        assert self.store is not None
        clusters = self.store.list(objects_pb2.Cluster, copy=False)
        return bool(clusters) and bool(clusters[0].etcd_embedded)

    async def _mark_leader(self, leader: bool) -> None:
        """Record leadership in this node's ManagerStatus (and clear it on the others)."""
        store = self.store
        assert store is not None
        me = self.config.node_id
        for node in store.list(objects_pb2.Node):
            is_me = node.id == me
            if not is_me and (not leader or not node.manager_status.leader):
                continue  # only a new leader clears the others' flag

            def change(n: objects_pb2.Node, is_me: bool = is_me) -> bool:
                want = leader and is_me
                if n.manager_status.leader == want and (not is_me or n.manager_status.addr):
                    return False
                n.manager_status.leader = want
                if is_me:
                    n.manager_status.addr = self.config.advertise_addr
                    n.manager_status.reachability = objects_pb2.ManagerStatus.REACHABLE
                return True

            with contextlib.suppress(Exception):
                await store.mutate(objects_pb2.Node, node.id, change)

    async def stop(self) -> None:
        """Stop leading and serving; etcd is left running (it is not ours)."""
        if self._elect_task is not None:
            self._elect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._elect_task
        if self.election is not None:
            with contextlib.suppress(Exception):
                await self.election.stop()
        if self.server is not None:
            await self.server.stop(grace=0.5)
        if self.logbroker is not None:
            with contextlib.suppress(Exception):
                await self.logbroker.stop()
        if self.dispatcher is not None:
            with contextlib.suppress(Exception):
                await self.dispatcher.stop()
        if self.store is not None:
            await self.store.stop()
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
