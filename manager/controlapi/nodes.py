"""Nodes: get, list, update (availability, labels, desired role) and remove.

Nodes are created by the CA when they join (manager/ca/service.py). Removing
a node deletes its object; the orchestrators treat the tasks of a node that
no longer exists like those of a DOWN node (docs/cluster.md).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable

from shoal.manager.controlapi.base import Base
from shoal.manager.controlapi.errors import FailedPrecondition, InvalidArgument
from shoal.manager.controlapi.filters import matches
from shoal.proto.shoal.v1 import control_pb2, objects_pb2, specs_pb2, types_pb2

Node = objects_pb2.Node


def _is_manager(node: Node) -> bool:
    return node.role == types_pb2.MANAGER or node.spec.desired_role == types_pb2.MANAGER


class NodeOps(Base):
    """The node calls of the Control API."""

    def get_node(self, node_id: str) -> Node:
        return self._get(Node, node_id)

    def list_nodes(
        self,
        filters: control_pb2.ListFilters | None = None,
        roles: Iterable[int] = (),
        availabilities: Iterable[int] = (),
    ) -> builtins.list[Node]:
        roles, availabilities = set(roles), set(availabilities)

        def where(n: Node) -> bool:
            names = [n.spec.annotations.name, n.description.hostname]
            return (
                matches(filters, n.id, names, n.spec.annotations.labels)
                and (not roles or n.role in roles)
                and (not availabilities or n.spec.availability in availabilities)
            )

        return self._list(Node, where)

    async def update_node(self, node_id: str, version: int, spec: specs_pb2.NodeSpec) -> Node:
        """Replace the node's spec: availability, labels, name, desired role."""
        node = await self._at_version(Node, node_id, version)
        if spec.availability not in specs_pb2.NodeSpec.Availability.values():
            raise InvalidArgument(f"invalid availability {spec.availability}")
        if spec.desired_role not in types_pb2.NodeRole.values():
            raise InvalidArgument(f"invalid role {spec.desired_role}")
        demoting = (
            node.spec.desired_role == types_pb2.MANAGER and spec.desired_role == types_pb2.WORKER
        )
        if demoting and not any(
            _is_manager(n) for n in self.store.list(Node, copy=False) if n.id != node_id
        ):
            raise FailedPrecondition("attempting to demote the last manager of the swarm")
        member_id = node.manager_status.etcd_member_id if demoting else 0
        if member_id:
            await self._check_etcd_removal(node_id, member_id)
        node.spec.CopyFrom(spec)
        updated = await self.store.update(node)
        await self._settle(updated.meta.version.index)
        if member_id:
            await self._remove_if_unreachable(member_id)
        return updated

    async def _check_etcd_removal(self, node_id: str, member_id: int) -> None:
        """Refuse a demotion whose etcd member removal would lose quorum (SwarmKit's check)."""
        from shoal.manager import etcd_members

        try:
            await etcd_members.check_removal(self.store.client, member_id)
        except etcd_members.QuorumError as exc:
            raise FailedPrecondition(f"can't demote node {node_id}: {exc}") from exc

    async def _remove_if_unreachable(self, member_id: int) -> None:
        """Remove a demoted manager's etcd member now if its host is down.

        A live host removes its own member when it steps down (shoal/node_etcd.py);
        a dead one cannot, and its member would count against quorum.
        """
        from shoal.manager import etcd_members

        client = self.store.client
        try:
            members = await etcd_members.list_members(client)
            if member_id in {m.id for m in members} and \
                    member_id not in await etcd_members.healthy_members(members):
                await etcd_members.remove_member(client, member_id, check=False)
        except etcd_members.MembershipError:
            pass  # the node removes it itself when it comes back and steps down

    async def remove_node(self, node_id: str, *, force: bool = False, caller: str = "") -> None:
        """Delete a node that is down (any worker with FORCE); never a manager.

        CALLER is the node id of the manager serving the request, if known.
        """
        node = self._get(Node, node_id)
        if node_id == caller:
            raise FailedPrecondition(
                f"node {node_id} is the manager serving this request: a manager cannot "
                "remove itself (demote it, then remove it from another manager)"
            )
        if _is_manager(node):
            raise FailedPrecondition(
                f"node {node_id} is a cluster manager and is a member of the raft cluster. "
                "It must be demoted to worker before removal"
            )
        if not force and node.status.state != objects_pb2.NodeStatus.DOWN:
            raise FailedPrecondition(f"node {node_id} is not down and can't be removed")
        await self._settle(await self.store.delete(Node, node_id, int(node.meta.version.index)))
