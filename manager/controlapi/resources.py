"""Networks, secrets and configs: records with unique names.

Networks get their subnet, gateway and VNI from the allocator at creation
(`ipam` and `driver_state`, manager/allocator). A network whose only users
are tasks being shut down is marked `pending_delete` (hidden, its name free)
and deleted by the leader's NetworkReaper once they stopped.
Secret data is never returned: Get and List clear it.
Secrets and configs may only have their labels changed, as in Docker. None of
them can be removed while a service (not being removed) uses it.
"""

from __future__ import annotations

import builtins
import ipaddress
from typing import Any, TypeVar

from google.protobuf.message import Message

from shoal.manager.allocator.networks import AllocationError, NetworkAllocator
from shoal.manager.allocator.reaper import live_users, uses
from shoal.manager.controlapi.base import Base
from shoal.manager.controlapi.errors import FailedPrecondition, InvalidArgument
from shoal.manager.controlapi.filters import spec_filter
from shoal.manager.controlapi.validation import (
    MAX_CONFIG_SIZE,
    MAX_SECRET_SIZE,
    check_data,
    check_dns_name,
    check_object_name,
)
from shoal.manager.store import AlreadyExists, NotFound
from shoal.proto.shoal.v1 import control_pb2, objects_pb2, specs_pb2, types_pb2
from shoal.proto.shoal.v1.objects_pb2 import Config, Network, Secret

M = TypeVar("M", bound=Message)
DEFAULT_NETWORK_DRIVER = "overlay"


def _check_ipam(ipam: types_pb2.IPAMOptions) -> None:
    for conf in ipam.configs:
        try:
            subnet = ipaddress.ip_network(conf.subnet, strict=True)
        except ValueError as exc:
            raise InvalidArgument(f"invalid subnet {conf.subnet!r}: {exc}") from None
        if conf.range:
            try:
                rng = ipaddress.ip_network(conf.range, strict=True)
            except ValueError as exc:
                raise InvalidArgument(f"invalid ip range {conf.range!r}: {exc}") from None
            if rng.version != subnet.version or not rng.subnet_of(subnet):  # type: ignore[arg-type]
                raise InvalidArgument(f"ip range {conf.range} is not within subnet {subnet}")
        if conf.gateway:
            try:
                gw = ipaddress.ip_address(conf.gateway)
            except ValueError as exc:
                raise InvalidArgument(f"invalid gateway {conf.gateway!r}: {exc}") from None
            if gw not in subnet:
                raise InvalidArgument(f"gateway {gw} is not within subnet {subnet}")


def _redacted(secret: Secret) -> Secret:
    secret.spec.data = b""
    return secret


class ResourceOps(Base):
    """The network, secret and config calls of the Control API."""

    async def _create(self, obj: M, name: str) -> M:
        """Store OBJ; a taken name says "<kind> <name> already exists", as Docker."""
        try:
            created: Any = await self.store.create(obj)
        except AlreadyExists as exc:
            raise AlreadyExists(exc.kind, name, exc.existing_id) from exc
        await self._settle(created.meta.version.index)
        return created

    def _users(self, matches_ref: Any) -> builtins.list[objects_pb2.Service]:
        """Return the services (not being removed) for which MATCHES_REF(spec) is true."""
        return [
            s
            for s in self.store.list(objects_pb2.Service, copy=False)
            if not s.pending_delete and matches_ref(s.spec)
        ]

    # Networks.

    @property
    def allocator(self) -> NetworkAllocator:
        alloc: NetworkAllocator | None = getattr(self, "_network_allocator", None)
        if alloc is None:
            alloc = self._network_allocator = NetworkAllocator()
        return alloc

    def _network(self, network_id: str) -> Network:
        net = self._get(Network, network_id)
        if net.pending_delete:
            raise NotFound("networks", network_id)
        return net

    def get_network(self, network_id: str) -> Network:
        return self._network(network_id)

    def list_networks(self, filters: control_pb2.ListFilters | None = None) -> list[Network]:
        match = spec_filter(filters)
        return self._list(Network, lambda n: not n.pending_delete and match(n))

    async def create_network(self, spec: specs_pb2.NetworkSpec) -> Network:
        check_dns_name(spec.annotations.name)
        net = Network(spec=spec)
        if not net.spec.driver_config.name:
            net.spec.driver_config.name = DEFAULT_NETWORK_DRIVER
        _check_ipam(net.spec.ipam)
        if spec.ingress:
            for other in self.store.list(Network, copy=False):
                if other.spec.ingress and not other.pending_delete:
                    raise FailedPrecondition(
                        f"ingress network ({other.spec.annotations.name}) is already present"
                    )
        async with self.allocator.lock:
            try:
                self.allocator.allocate(net, self.store.list(Network, copy=False))
            except AllocationError as exc:
                raise InvalidArgument(str(exc)) from None
            try:
                return await self._create(net, spec.annotations.name)
            except AlreadyExists as exc:
                holder = self.store.get(Network, exc.existing_id, copy=False)
                if holder is None or not holder.pending_delete:
                    raise
            # the name's holder is going away: free the name now (its subnet is
            # not reused, the allocator walks on)
            await self.store.delete(Network, holder.id, int(holder.meta.version.index))
            return await self._create(net, spec.annotations.name)

    async def remove_network(self, network_id: str) -> None:
        """Remove a network no service uses; mark it pending_delete while tasks stop."""
        net = self._network(network_id)
        users = sorted(s.spec.annotations.name for s in self._users(
            lambda spec: any(na.target in (net.id, net.spec.annotations.name)
                             for na in [*spec.task.networks, *spec.networks])))
        if net.spec.ingress:
            users = sorted(s.spec.annotations.name for s in self._users(lambda spec: any(
                p.publish_mode == types_pb2.PortConfig.INGRESS for p in spec.endpoint.ports)))
        if users:
            noun = "service" if len(users) == 1 else "services"
            raise FailedPrecondition(f"network {net.spec.annotations.name} is in use by {noun} "
                                     f"{', '.join(users)}")
        tasks = self.store.list(objects_pb2.Task, copy=False)
        for task in tasks:
            if task.desired_state <= types_pb2.RUNNING and task.status.state <= types_pb2.RUNNING \
                    and uses(task, net):
                raise FailedPrecondition(f"network {net.spec.annotations.name} is in use by "
                                         f"task {task.id}")
        if not live_users(tasks, net):
            await self._settle(await self.store.delete(Network, net.id))
            return

        def mark(n: Network) -> bool:
            if n.pending_delete:
                return False
            n.pending_delete = True
            return True

        marked = await self.store.mutate(Network, net.id, mark)
        await self._settle(marked.meta.version.index)

    # Secrets and configs.

    def get_secret(self, secret_id: str) -> Secret:
        secret = self._get(Secret, secret_id)
        if secret.internal:
            raise NotFound("secrets", secret_id)
        return _redacted(secret)

    def list_secrets(self, filters: control_pb2.ListFilters | None = None) -> list[Secret]:
        match = spec_filter(filters)
        return [_redacted(s) for s in self._list(Secret, lambda s: not s.internal and match(s))]

    async def create_secret(self, spec: specs_pb2.SecretSpec) -> Secret:
        check_object_name(spec.annotations.name)
        check_data("secret", spec.data, MAX_SECRET_SIZE)
        return _redacted(await self._create(Secret(spec=spec), spec.annotations.name))

    async def update_secret(
        self, secret_id: str, version: int, spec: specs_pb2.SecretSpec
    ) -> Secret:
        secret = await self._at_version(Secret, secret_id, version)
        if secret.internal:
            raise NotFound("secrets", secret_id)
        self._labels_only(secret.spec, spec, ("driver", "templating"))
        secret.spec.annotations.labels.clear()
        secret.spec.annotations.labels.update(spec.annotations.labels)
        updated = await self.store.update(secret)
        await self._settle(updated.meta.version.index)
        return _redacted(updated)

    async def remove_secret(self, secret_id: str) -> None:
        secret = self._get(Secret, secret_id)
        if secret.internal:
            raise NotFound("secrets", secret_id)
        self._refuse_in_use("secret", secret.id, secret.spec.annotations.name)
        await self._settle(await self.store.delete(Secret, secret_id))

    def get_config(self, config_id: str) -> Config:
        return self._get(Config, config_id)

    def list_configs(self, filters: control_pb2.ListFilters | None = None) -> list[Config]:
        return self._list(Config, spec_filter(filters))

    async def create_config(self, spec: specs_pb2.ConfigSpec) -> Config:
        check_object_name(spec.annotations.name)
        check_data("config", spec.data, MAX_CONFIG_SIZE)
        return await self._create(Config(spec=spec), spec.annotations.name)

    async def update_config(
        self, config_id: str, version: int, spec: specs_pb2.ConfigSpec
    ) -> Config:
        config = await self._at_version(Config, config_id, version)
        self._labels_only(config.spec, spec, ("templating",))
        config.spec.annotations.labels.clear()
        config.spec.annotations.labels.update(spec.annotations.labels)
        updated = await self.store.update(config)
        await self._settle(updated.meta.version.index)
        return updated

    async def remove_config(self, config_id: str) -> None:
        config = self._get(Config, config_id)
        self._refuse_in_use("config", config.id, config.spec.annotations.name)
        await self._settle(await self.store.delete(Config, config_id))

    @staticmethod
    def _labels_only(current: Any, new: Any, fields: tuple[str, ...]) -> None:
        """Refuse a change to anything but labels (empty data means unchanged)."""
        changed = current.annotations.name != new.annotations.name or (
            new.data and new.data != current.data
        )
        changed = changed or any(
            new.HasField(f) and getattr(new, f) != getattr(current, f) for f in fields
        )
        if changed:
            raise InvalidArgument("only updates to Labels are allowed")

    def _refuse_in_use(self, what: str, obj_id: str, name: str) -> None:
        def uses(spec: specs_pb2.ServiceSpec) -> bool:
            refs = getattr(spec.task.container, f"{what}s")
            return any(getattr(r, f"{what}_id") == obj_id for r in refs)

        users = sorted(s.spec.annotations.name for s in self._users(uses))
        if users:
            noun = "service" if len(users) == 1 else "services"
            raise InvalidArgument(
                f"{what} '{name}' is in use by the following {noun}: {', '.join(users)}"
            )
