"""This manager host's embedded etcd member: start, publish, retire (docs/cluster.md).

`LocalMember` is what a Node runs when the cluster's etcd is embedded:
  * `start()` restarts the member from its data dir if there is one (etcd then
    ignores --initial-cluster*), else joins the cluster at the seed endpoints
    (manager/etcd_members.join), else (no seeds: `cluster init`) starts a new
    one-member cluster. It finds its own member id and every member's client
    endpoint, its own first.
  * `publish(store)` records them in the store: this node's
    ManagerStatus.etcd_member_id and Cluster.etcd_endpoints (what joiners read).
  * `check_retire()` (before the manager stops) refuses a removal that would
    lose quorum; `retire()` (after) removes the member through the other
    members, stops etcd and wipes its data dir.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

from shoal.manager import etcd_members as em
from shoal.manager.etcd import EtcdConfig, EtcdError, EtcdProcess, connect

log = logging.getLogger(__name__)


class LocalMember:
    """One etcd member run by this host's shoald, with its data in SWARM_DIR/etcd."""

    def __init__(self, swarm_dir: Path, *, name: str, host: str, client_port: int = 0,
                 peer_port: int = 0) -> None:
        self.data_dir = swarm_dir / "etcd"
        self.config = EtcdConfig(data_dir=self.data_dir, name=name, host=host,
                                 client_port=client_port, peer_port=peer_port,
                                 log_file=swarm_dir / "etcd.log")
        self.proc: EtcdProcess | None = None
        self.member_id = 0
        self.endpoints: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"{self.config.host}:{self.config.client_port}"

    def others(self) -> list[str]:
        """Return the client endpoints of the other members."""
        return [e for e in self.endpoints if e != self.endpoint]

    async def start(self, seeds: list[str]) -> None:
        """Run the member: restart it, join the cluster at SEEDS, or start a new cluster."""
        if (self.data_dir / "member").is_dir():
            log_file = self.config.log_file
            assert log_file is not None
            start = log_file.stat().st_size if log_file.exists() else 0
            try:
                await self._run(EtcdProcess(self.config))
                return
            except EtcdError:
                seeds = [s for s in seeds if s != self.endpoint]
                if not seeds or not _removed_since(log_file, start):
                    raise
                # Removed while this host was down (demoted from another manager):
                # join again as a new member; the role watch then demotes it cleanly.
                log.warning("this etcd member was removed from its cluster; joining anew")
                shutil.rmtree(self.data_dir, ignore_errors=True)
                self.config.client_port = self.config.peer_port = 0
        if seeds:
            self.proc, me, members = await em.join(seeds, self.config)
            self.member_id = me.id
            self.endpoints = em.endpoints(members, first=self.endpoint)
            return
        await self._run(EtcdProcess(self.config))

    async def _run(self, proc: EtcdProcess) -> None:
        self.proc = proc
        await proc.start()
        self.config = proc.config  # ports picked at start
        await self.refresh()

    async def refresh(self) -> None:
        """Read this member's id and every member's endpoint from etcd."""
        client = connect([self.endpoint])
        try:
            members = await em.list_members(client)
        finally:
            with contextlib.suppress(Exception):
                await client.close()
        mine = [m for m in members if self.config.peer_url in m.peer_urls]
        if not mine:
            raise EtcdError(f"etcd at {self.endpoint} does not list this member "
                            f"({self.config.peer_url})")
        self.member_id = mine[0].id
        self.endpoints = em.endpoints(members, first=self.endpoint)

    async def _refresh_quietly(self) -> None:
        """Refresh the member list if this member still answers (others joined since)."""
        if self.proc is not None and self.proc.running():
            try:
                await self.refresh()
            except EtcdError as exc:
                log.info("etcd member list not refreshed: %s", exc)

    async def publish(self, store: Any, node_id: str) -> None:
        """Record the member id in this Node and all endpoints in the Cluster (best effort)."""
        from shoal.proto.shoal.v1 import objects_pb2

        member_id, endpoints = self.member_id, list(self.endpoints)

        def node(n: objects_pb2.Node) -> bool:
            if n.manager_status.etcd_member_id == member_id:
                return False
            n.manager_status.etcd_member_id = member_id
            return True

        try:
            await store.mutate(objects_pb2.Node, node_id, node)
            for cluster in store.list(objects_pb2.Cluster):
                await store.mutate(objects_pb2.Cluster, cluster.id, _set_endpoints(endpoints))
        except Exception as exc:
            log.warning("could not record the etcd membership in the store: %s", exc)

    async def check_retire(self, force: bool) -> None:
        """Raise QuorumError if removing this member would lose quorum (unless FORCE)."""
        await self._refresh_quietly()
        if force or not self.member_id or not self.others():
            return
        client = connect(self.others())
        try:
            await em.check_removal(client, self.member_id)
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def unpublish(self, store: Any, node_id: str) -> None:
        """Drop this member from the Node and the Cluster objects (best effort)."""
        from shoal.proto.shoal.v1 import objects_pb2

        def node(n: objects_pb2.Node) -> bool:
            if not n.manager_status.etcd_member_id:
                return False
            n.manager_status.etcd_member_id = 0
            return True

        with contextlib.suppress(Exception):
            await store.mutate(objects_pb2.Node, node_id, node)
            for cluster in store.list(objects_pb2.Cluster):
                await store.mutate(objects_pb2.Cluster, cluster.id,
                                   _set_endpoints(self.others()))

    async def retire(self, force: bool) -> None:
        """Remove the member (through the others), stop etcd and wipe its data dir."""
        await self._refresh_quietly()
        try:
            if self.member_id and self.others():
                client = connect(self.others())
                try:
                    await em.leave(client, self.member_id, force=force)
                finally:
                    with contextlib.suppress(Exception):
                        await client.close()
        finally:
            await self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.member_id, self.endpoints = 0, []

    async def stop(self) -> None:
        """Stop etcd, keeping its data (shoald stops or restarts)."""
        if self.proc is not None:
            await self.proc.stop()


def _removed_since(log_file: Path, offset: int) -> bool:
    """Return whether etcd logged, after OFFSET, that its member was removed."""
    try:
        with open(log_file, "rb") as f:
            f.seek(offset)
            return b"permanently removed from the cluster" in f.read()
    except OSError:
        return False


def _set_endpoints(endpoints: list[str]) -> Any:
    def change(c: Any) -> bool:
        if list(c.etcd_endpoints) == endpoints and c.etcd_embedded:
            return False
        del c.etcd_endpoints[:]
        c.etcd_endpoints.extend(endpoints)
        c.etcd_embedded = True
        return True

    return change
