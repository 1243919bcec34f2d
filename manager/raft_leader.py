"""Keep etcd's raft leader off the host of the shoal leader (a leader loop).

When the shoal leader's host dies and its etcd member was also etcd's raft
leader, etcd must first elect a new raft leader (1-2 s with its default
timings), and a new raft leader renews every lease for its full TTL plus an
election timeout: the leader key outlives its dead holder by that much, and
failover takes ~6 s instead of ~3 s (measured by bench/failover.py). So while
it leads, the shoal leader checks every few seconds whether its own member is
the raft leader and, if so, hands raft leadership to another voting member
that answers (etcd's MoveLeader, what `etcdctl move-leader` does). Losing
both at once then takes two host failures.

Only the managers' embedded etcd (Cluster.etcd_embedded) is touched, only
with at least three voting members, and only when the member asked is on
this manager's own host (its client URL names the advertise host).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

import aetcd
import grpc
from aetcd import rpc

from shoal.manager import etcd as etcd_mod

log = logging.getLogger(__name__)

EtcdErrors = (grpc.RpcError, aetcd.ClientError, OSError, asyncio.TimeoutError)
CALL_TIMEOUT = 2.0


def _host(url: str) -> str:
    return urlsplit(url if "://" in url else f"http://{url}").hostname or ""


class RaftLeaderAway:
    """Moves etcd's raft leadership away from this manager's member while it leads."""

    name = "raft-leader-away"

    def __init__(self, endpoint: str, advertise_host: str, embedded: Callable[[], bool],
                 interval: float = 3.0) -> None:
        self.endpoint = endpoint  # this manager's own member (its first endpoint)
        self.advertise_host = advertise_host
        self.embedded = embedded
        self.interval = interval
        self.moves = 0

    async def run(self) -> None:
        """Check, and move if needed, every `interval` seconds until cancelled."""
        if _host(self.endpoint) != self.advertise_host:
            return  # the first endpoint is not this host's member: not ours to move
        try:
            client = etcd_mod.connect([self.endpoint], timeout=CALL_TIMEOUT)
        except etcd_mod.EtcdError as exc:
            log.warning("raft leader checks off: %s", exc)
            return
        try:
            while True:
                if self.embedded():
                    try:
                        await client.connect()
                        await self.check(client)
                    except EtcdErrors as exc:
                        log.debug("raft leader check failed: %s", exc)
                    except Exception:  # never end the leader's term for an optimisation
                        log.exception("raft leader check failed")
                await asyncio.sleep(self.interval)
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def check(self, client: aetcd.Client) -> bool:
        """Move raft leadership to a healthy voter if this member has it; return if it moved."""
        md = client.metadata
        status = await client.maintenancestub.Status(rpc.StatusRequest(), timeout=CALL_TIMEOUT,
                                                     metadata=md)
        own = status.header.member_id
        if status.leader != own:
            return False
        members = await client.clusterstub.MemberList(rpc.MemberListRequest(),
                                                      timeout=CALL_TIMEOUT, metadata=md)
        voters = [m for m in members.members if not m.isLearner]
        if len(voters) < 3:
            return False
        for m in voters:
            if m.ID == own or not m.clientURLs or not await self._answers(m.clientURLs[0]):
                continue
            await client.maintenancestub.MoveLeader(rpc.MoveLeaderRequest(targetID=m.ID),
                                                    timeout=CALL_TIMEOUT * 3, metadata=md)
            self.moves += 1
            log.info("etcd raft leadership moved from this host's member to %s", m.name)
            return True
        return False

    @staticmethod
    async def _answers(url: str) -> bool:
        other = etcd_mod.connect([url], timeout=CALL_TIMEOUT)
        try:
            await other.connect()
            await other.maintenancestub.Status(rpc.StatusRequest(), timeout=CALL_TIMEOUT,
                                               metadata=other.metadata)
            return True
        except EtcdErrors:
            return False
        finally:
            with contextlib.suppress(Exception):
                await other.close()
