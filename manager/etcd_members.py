"""Grow and shrink the managers' embedded etcd: one member per manager host.

A manager that joins a cluster whose etcd is embedded (Cluster.etcd_embedded)
adds its own member with an aetcd client on the current endpoints: etcd
forwards membership changes to its raft leader itself, so no manager call is
needed. The member is added as a *learner* (it does not count towards quorum),
started with `--initial-cluster-state=existing` and the full
`--initial-cluster` list, and promoted to a voting member once it has caught
up. A joiner that dies half-way therefore leaves a learner behind, never a
cluster that waits for a member that will not come (with a plain MemberAdd, a
one-member cluster has no quorum until the second member starts).

Joins hold an etcd lock: a new member's `--initial-cluster` must name every
member exactly once, and etcd 3.4 allows one learner at a time. A learner that
has never started when the lock is taken is a dead joiner's and is removed.

Removing a member (demote, leave) is refused when it would lose quorum, the way
SwarmKit's CanRemoveMember decides: the voting members other than the one
removed that answer /health must be a majority of the cluster that remains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aetcd
import grpc
from aetcd import rpc

from shoal.manager.etcd import EtcdConfig, EtcdError, EtcdProcess, check_health, connect, free_port

log = logging.getLogger(__name__)

JOIN_LOCK = b"/shoal/v1/locks/etcd-members"
JOIN_LOCK_TTL = 60
_RPC_ERRORS = (grpc.RpcError, aetcd.ClientError, OSError, TimeoutError)


class MembershipError(EtcdError):
    """A member could not be listed, added, promoted or removed."""


class QuorumError(MembershipError):
    """Removing the member would leave the etcd cluster without a quorum."""


@dataclass(frozen=True)
class Member:
    """One etcd member as MemberList reports it."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    learner: bool

    @property
    def started(self) -> bool:
        """Return whether the member has ever run (etcd names a member when it starts)."""
        return bool(self.name and self.client_urls)

    @property
    def endpoint(self) -> str:
        """Return "host:port" of the first client URL ("" before the member started)."""
        return urlsplit(self.client_urls[0]).netloc if self.client_urls else ""


async def _stub(client: aetcd.Client) -> rpc.ClusterStub:
    await client.connect()
    return client.clusterstub


async def list_members(client: aetcd.Client, timeout: float = 10.0) -> list[Member]:
    """Return the cluster's members, learners included."""
    try:
        resp = await (await _stub(client)).MemberList(
            rpc.MemberListRequest(), timeout=timeout, metadata=client.metadata)
    except _RPC_ERRORS as exc:
        raise MembershipError(f"listing etcd members: {_why(exc)}") from exc
    return [Member(int(m.ID), m.name, tuple(m.peerURLs), tuple(m.clientURLs), m.isLearner)
            for m in resp.members]


def endpoints(members: Sequence[Member], first: str = "") -> list[str]:
    """Return the client endpoints of the started members, FIRST (this host's) in front."""
    found = [m.endpoint for m in members if m.started]
    return ([first] if first in found else []) + [e for e in found if e != first]


def quorum_problem(members: Sequence[Member], member_id: int, healthy: Collection[int]) -> str:
    """Return why removing MEMBER_ID would lose quorum ("" if it would not).

    HEALTHY holds the ids of the members that answer /health. Learners do not
    vote, so removing one (or a member that is not listed) never matters.
    """
    voters = [m for m in members if not m.learner]
    if member_id not in {m.id for m in voters}:
        return ""
    rest = [m for m in voters if m.id != member_id]
    if not rest:
        return "it is the last etcd member: the cluster's state would be lost"
    need = len(rest) // 2 + 1
    have = sum(1 for m in rest if m.id in healthy)
    if have >= need:
        return ""
    return (f"this would result in a loss of quorum: {have} of the {len(rest)} etcd members "
            f"left would be reachable, and a quorum needs {need}")


async def healthy_members(members: Sequence[Member], timeout: float = 2.0) -> set[int]:
    """Return the ids of the members whose client URL answers /health with true."""
    started = [m for m in members if m.started]

    async def healthy(m: Member) -> bool:
        url = urlsplit(m.client_urls[0])
        return bool(url.hostname and url.port) and await check_health(
            str(url.hostname), int(url.port or 0), timeout)

    answers = await asyncio.gather(*(healthy(m) for m in started))
    return {m.id for m, ok in zip(started, answers, strict=True) if ok}


async def check_removal(client: aetcd.Client, member_id: int, settle: float = 3.0) -> None:
    """Raise QuorumError if removing MEMBER_ID now would lose quorum.

    During an etcd leader election every member answers /health false for a
    second or so: a problem is only reported once it lasted SETTLE seconds.
    """
    deadline = time.monotonic() + settle
    while True:
        members = await list_members(client)
        problem = quorum_problem(members, member_id, await healthy_members(members))
        if not problem:
            return
        if time.monotonic() > deadline:
            raise QuorumError(f"can't remove etcd member {member_id:x}: {problem}")
        await asyncio.sleep(0.3)


async def remove_member(client: aetcd.Client, member_id: int, *, check: bool = True,
                        timeout: float = 15.0) -> bool:
    """Remove MEMBER_ID (after a quorum check unless CHECK is false).

    Return False if it was not a member (already removed), True otherwise.
    """
    if check:
        await check_removal(client, member_id)
    deadline = time.monotonic() + timeout
    while True:
        try:
            await (await _stub(client)).MemberRemove(
                rpc.MemberRemoveRequest(ID=member_id), timeout=10, metadata=client.metadata)
            break
        except _RPC_ERRORS as exc:
            if "member not found" in _why(exc):
                return False
            # etcd's own check counts only voters its leader has seen for 5 s:
            # right after a member (re)started, a removal has to wait.
            if "unhealthy cluster" not in _why(exc) or time.monotonic() > deadline:
                raise MembershipError(
                    f"removing etcd member {member_id:x}: {_why(exc)}") from exc
        await asyncio.sleep(0.5)
    log.info("etcd member %x removed", member_id)
    return True


async def _promote(client: aetcd.Client, member_id: int, proc: EtcdProcess,
                   timeout: float) -> None:
    """Promote the learner once it is in sync with the leader (etcd refuses before)."""
    deadline = time.monotonic() + timeout
    while True:
        if not proc.running():
            raise MembershipError(f"etcd exited before it caught up: {proc.log_tail()}")
        try:
            await (await _stub(client)).MemberPromote(
                rpc.MemberPromoteRequest(ID=member_id), timeout=10, metadata=client.metadata)
            return
        except _RPC_ERRORS as exc:
            if time.monotonic() > deadline:
                raise MembershipError(
                    f"etcd member {member_id:x} not promoted after {timeout:.0f}s: {_why(exc)}"
                ) from exc
        await asyncio.sleep(0.2)


async def join(seeds: Sequence[str], config: EtcdConfig, *, timeout: float = 60.0
               ) -> tuple[EtcdProcess, Member, list[Member]]:
    """Add this host's member to the cluster at SEEDS and run it (see the module doc).

    CONFIG's name, host and data dir are this member's (ports 0 are picked
    here). Return the running process, its member and the full member list.
    On failure the member is removed again and its data dir wiped.
    """
    client = connect(seeds)
    try:
        lock = client.lock(JOIN_LOCK, ttl=JOIN_LOCK_TTL)
        try:
            acquired = await lock.acquire(timeout=int(timeout))
        except _RPC_ERRORS as exc:
            raise MembershipError(f"etcd at {', '.join(seeds)}: {_why(exc)}") from exc
        if not acquired:
            raise MembershipError(f"another manager is joining etcd for over {timeout:.0f}s")
        try:
            return await _join_locked(client, config, timeout)
        finally:
            with contextlib.suppress(*_RPC_ERRORS):
                await lock.release()
    finally:
        with contextlib.suppress(Exception):
            await client.close()


async def _join_locked(client: aetcd.Client, config: EtcdConfig, timeout: float
                       ) -> tuple[EtcdProcess, Member, list[Member]]:
    for m in await list_members(client):
        if not m.started and m.learner:  # a joiner died before its member ran
            log.warning("removing etcd learner %x that never started", m.id)
            await remove_member(client, m.id, check=False)
    config.client_port = config.client_port or free_port(config.host)
    config.peer_port = config.peer_port or free_port(config.host)
    deadline = time.monotonic() + timeout
    while True:
        try:
            resp = await (await _stub(client)).MemberAdd(
                rpc.MemberAddRequest(peerURLs=[config.peer_url], isLearner=True),
                timeout=10, metadata=client.metadata)
            break
        except _RPC_ERRORS as exc:
            # etcd adds members only once its leader has seen every voter for 5 s
            # (--strict-reconfig-check): a member that just joined or restarted
            # makes the next join wait a little.
            if "unhealthy cluster" not in _why(exc) or time.monotonic() > deadline:
                raise MembershipError(
                    f"adding etcd member {config.peer_url}: {_why(exc)}") from exc
        await asyncio.sleep(0.5)
    member_id = int(resp.member.ID)
    log.info("etcd member %x (%s) added as a learner", member_id, config.peer_url)
    cluster = {m.name: m.peerURLs[0] for m in resp.members if m.name and m.ID != member_id}
    cluster[config.name] = config.peer_url
    config.initial_cluster, config.initial_cluster_state = cluster, "existing"
    proc = EtcdProcess(config)
    try:
        proc.spawn()
        await _promote(client, member_id, proc, timeout)
        await proc.wait_healthy(timeout)
        members = await list_members(client)
    except BaseException:
        await proc.stop()
        with contextlib.suppress(*_RPC_ERRORS, MembershipError):
            await remove_member(client, member_id, check=False)
        shutil.rmtree(config.data_dir, ignore_errors=True)
        raise
    me = next(m for m in members if m.id == member_id)
    log.info("etcd member %x joined: %d members", member_id, len(members))
    return proc, me, members


async def leave(client: aetcd.Client, member_id: int, *, force: bool = False) -> None:
    """Remove this host's member MEMBER_ID before its etcd stops.

    Refused with QuorumError when it would lose quorum. With FORCE a quorum
    problem or a failed removal is only logged (the node leaves anyway), and
    the last member is left alone: its cluster goes away with it.
    """
    try:
        if force and [m.id for m in await list_members(client)] == [member_id]:
            return
        await remove_member(client, member_id)
    except MembershipError as exc:
        if not force:
            raise
        log.warning("%s; leaving anyway (forced)", exc)
        with contextlib.suppress(MembershipError):
            await remove_member(client, member_id, check=False)


def _why(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "details"):
        return str(exc.details())
    return str(exc) or type(exc).__name__
