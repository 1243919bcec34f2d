"""Services: get, list, create, update (or roll back) and remove.

Specs are checked in validation.py; here are the checks that need the
store: names of networks, secrets and configs resolved to ids, published
ports against the other services, the version for optimistic concurrency.

`spec_version.index` counts the specs a service has had (1 at creation, one
more for every update, never reused); a rollback swaps spec and previous_spec
with their versions. Removal (docs/cluster.md) marks the service
`pending_delete` and sets its tasks' desired_state to REMOVE; the task reaper
deletes those tasks once they are done, then the service. A service pending
deletion is invisible here, and its name can be taken again at once.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from shoal.manager.allocator.networks import AllocationError
from shoal.manager.allocator.ports import endpoint_ports
from shoal.manager.controlapi.base import Base
from shoal.manager.controlapi.errors import FailedPrecondition, InvalidArgument, Unimplemented
from shoal.manager.controlapi.filters import spec_filter
from shoal.manager.controlapi.validation import check_service_spec, normalize_service_spec
from shoal.manager.store import AlreadyExists, NotFound, StoreError, Update, VersionConflict
from shoal.proto.shoal.v1 import control_pb2, objects_pb2, specs_pb2, types_pb2

Service = objects_pb2.Service
_HOST = types_pb2.PortConfig.HOST
# How many rounds of conflicts RemoveService tolerates while marking tasks.
_REMOVE_ROUNDS = 20


def _mode(spec: specs_pb2.ServiceSpec) -> str:
    return spec.WhichOneof("mode") or "replicated"


class ServiceOps(Base):
    """The service calls of the Control API."""

    def _live(self, service_id: str) -> Service:
        svc = self._get(Service, service_id)
        if svc.pending_delete:
            raise NotFound("services", service_id)
        return svc

    def get_service(self, service_id: str) -> Service:
        return self._live(service_id)

    def list_services(
        self, filters: control_pb2.ListFilters | None = None, modes: Iterable[str] = ()
    ) -> builtins.list[Service]:
        modes = set(modes)
        for m in modes - {"replicated", "global"}:
            raise InvalidArgument(f"invalid service mode filter {m!r}: replicated or global")
        match = spec_filter(filters)
        return self._list(
            Service,
            lambda s: not s.pending_delete and match(s) and (not modes or _mode(s.spec) in modes),
        )

    def _prepare(self, spec: specs_pb2.ServiceSpec, service_id: str = "") -> specs_pb2.ServiceSpec:
        """Return a checked copy of SPEC with its references resolved to ids."""
        out = specs_pb2.ServiceSpec()
        out.CopyFrom(spec)
        normalize_service_spec(out)
        check_service_spec(out)
        self._resolve_networks(out)
        self._resolve_refs(out.task.container.secrets, objects_pb2.Secret, "secret")
        self._resolve_refs(out.task.container.configs, objects_pb2.Config, "config")
        self._check_ports(out, service_id)
        return out

    def _resolve_networks(self, spec: specs_pb2.ServiceSpec) -> None:
        for na in [*spec.task.networks, *spec.networks]:
            net = self.store.get(objects_pb2.Network, na.target, copy=False)
            if net is None:
                net = self.store.cache.by_name(objects_pb2.Network, na.target, copy=False)
            if net is None or net.pending_delete:
                raise NotFound("networks", na.target)
            if net.spec.ingress:
                raise InvalidArgument(
                    "Service cannot be explicitly attached to the ingress network "
                    f"{net.spec.annotations.name!r}"
                )
            na.target = net.id

    def _resolve_refs(self, refs: Iterable[Any], kind: type[Message], what: str) -> None:
        missing = []
        for ref in refs:
            id_field, name_field = f"{what}_id", f"{what}_name"
            obj: Any = None
            if getattr(ref, id_field):
                obj = self.store.get(kind, getattr(ref, id_field), copy=False)
            elif getattr(ref, name_field):
                obj = self.store.cache.by_name(kind, getattr(ref, name_field), copy=False)
            if obj is None or getattr(obj, "internal", False):
                missing.append(getattr(ref, name_field) or getattr(ref, id_field))
                continue
            setattr(ref, id_field, obj.id)
            setattr(ref, name_field, obj.spec.annotations.name)
            if not ref.file.name:
                ref.file.name = obj.spec.annotations.name
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise InvalidArgument(f"{what}{plural} not found: {', '.join(missing)}")

    def _check_ports(self, spec: specs_pb2.ServiceSpec, service_id: str) -> None:
        """Refuse published ports another service holds, as Docker does.

        Two services may publish the same port in host mode (the scheduler
        keeps their tasks on different nodes); an ingress port is the
        cluster's, so it conflicts with any other use of that port.
        """
        wanted = [p for p in spec.endpoint.ports if p.published_port]
        if not wanted:
            return
        for other in self.store.list(Service, copy=False):
            if other.id == service_id or other.pending_delete:
                continue
            for theirs in other.spec.endpoint.ports:
                for mine in wanted:
                    if (mine.published_port, mine.protocol) != (
                        theirs.published_port,
                        theirs.protocol,
                    ):
                        continue
                    if mine.publish_mode == _HOST and theirs.publish_mode == _HOST:
                        continue
                    use = "a host-published" if theirs.publish_mode == _HOST else "an ingress"
                    raise InvalidArgument(
                        f"port '{mine.published_port}' is already in use by service "
                        f"'{other.spec.annotations.name}' ({other.id}) as {use} port"
                    )

    def _set_endpoint(self, svc: Service) -> None:
        """Publish what the spec asks; an ingress port asked as 0 gets one (allocator)."""
        used = [(p.protocol, p.published_port)
                for other in self.store.list(Service, copy=False)
                if other.id != svc.id and not other.pending_delete
                for p in other.endpoint.ports if p.published_port]
        try:
            ports = endpoint_ports(svc.spec.endpoint.ports, svc.endpoint.ports, used)
        except AllocationError as exc:
            raise InvalidArgument(str(exc)) from None
        svc.endpoint.spec.CopyFrom(svc.spec.endpoint)
        del svc.endpoint.ports[:]
        svc.endpoint.ports.extend(ports)

    async def create_service(self, spec: specs_pb2.ServiceSpec) -> Service:
        svc = Service(spec=self._prepare(spec))
        svc.spec_version.index = 1
        self._set_endpoint(svc)
        try:
            created = await self.store.create(svc)
        except AlreadyExists as exc:
            holder = self.store.get(Service, exc.existing_id, copy=False)
            if holder is None or not holder.pending_delete:
                raise AlreadyExists("services", svc.spec.annotations.name, exc.existing_id) from exc
            # The name's holder is being removed: its tasks are already marked
            # REMOVE and the reaper deletes them without it, so free the name.
            await self.store.delete(Service, holder.id, int(holder.meta.version.index))
            svc.id = ""
            created = await self.store.create(svc)
        await self._settle(created.meta.version.index)
        return created

    async def update_service(
        self,
        service_id: str,
        version: int,
        spec: specs_pb2.ServiceSpec | None = None,
        *,
        rollback: bool = False,
    ) -> Service:
        """Apply SPEC to the service read at VERSION, or return to its previous spec."""
        svc = await self._at_version(Service, service_id, version)
        if svc.pending_delete:
            raise NotFound("services", service_id)
        if rollback:
            if not svc.HasField("previous_spec"):
                raise FailedPrecondition(f"service {service_id} does not have a previous spec")
            current, current_version = specs_pb2.ServiceSpec(), types_pb2.Version()
            current.CopyFrom(svc.spec)
            current_version.CopyFrom(svc.spec_version)
            svc.spec.CopyFrom(svc.previous_spec)
            svc.spec_version.CopyFrom(svc.previous_spec_version)
            svc.previous_spec.CopyFrom(current)
            svc.previous_spec_version.CopyFrom(current_version)
            svc.update_status.Clear()
            svc.update_status.state = objects_pb2.UpdateStatus.ROLLBACK_STARTED
            svc.update_status.message = "manually requested rollback"
            svc.update_status.started_at.CopyFrom(_now())
        else:
            if spec is None:
                raise InvalidArgument("service spec must be provided")
            new = self._prepare(spec, service_id)
            if new.annotations.name != svc.spec.annotations.name:
                raise Unimplemented("renaming services is not supported")
            if _mode(new) != _mode(svc.spec):
                raise InvalidArgument("service mode change is not allowed")
            next_version = max(svc.spec_version.index, svc.previous_spec_version.index) + 1
            svc.previous_spec.CopyFrom(svc.spec)
            svc.previous_spec_version.CopyFrom(svc.spec_version)
            svc.spec.CopyFrom(new)
            svc.spec_version.index = next_version
            svc.ClearField("update_status")
        self._set_endpoint(svc)
        updated = await self.store.update(svc)
        await self._settle(updated.meta.version.index)
        return updated

    async def remove_service(self, service_id: str) -> None:
        """Remove a service: at once if it has no tasks, else mark it and its tasks."""
        svc = self._live(service_id)
        version = int(svc.meta.version.index)
        if not self.store.cache.tasks_by_service(service_id, copy=False):
            try:
                await self._settle(await self.store.delete(Service, service_id, version))
                return
            except VersionConflict:
                pass  # it changed (maybe tasks came): mark it instead

        def mark(s: Service) -> bool:
            if s.pending_delete:
                return False
            s.pending_delete = True
            return True

        marked = await self.store.mutate(Service, service_id, mark)
        await self._settle(marked.meta.version.index)
        await self._remove_tasks(service_id)

    async def _remove_tasks(self, service_id: str) -> None:
        """Set desired_state REMOVE on every task of the service, in batches."""
        for _ in range(_REMOVE_ROUNDS):
            todo = [
                t
                for t in self.store.cache.tasks_by_service(service_id)
                if t.desired_state != types_pb2.REMOVE
            ]
            if not todo:
                return
            for t in todo:
                t.desired_state = types_pb2.REMOVE
            result = await self.store.batch([Update(t) for t in todo])
            if result.revision:
                await self._settle(result.revision)
            conflicts = [e for e in result.errors.values() if isinstance(e, VersionConflict)]
            others = [
                e for e in result.errors.values() if not isinstance(e, (VersionConflict, NotFound))
            ]
            if others:
                raise others[0]
            for exc in conflicts:
                await self._settle(exc.actual)
        raise StoreError(f"could not mark the tasks of service {service_id} for removal")


def _now() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts
