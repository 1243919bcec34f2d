"""The service writes of a rolling update: its UpdateStatus, and the automatic rollback.

The supervisor never keeps an update's progress only in memory: which slots
are done is read from the tasks' spec_version, and whether the update runs,
paused or finished from `Service.update_status`, so a new leader resumes an
update where the old one left it (and a paused one stays paused).

A change is written as an `Update` of the service read in the tick, which
fails on a version conflict: a user who changed the service meanwhile (a new
spec clears the status, a rollback sets ROLLBACK_STARTED) wins, and the
orchestrator decides again from the newer service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from shoal.manager.allocator.networks import AllocationError
from shoal.manager.allocator.ports import endpoint_ports
from shoal.proto.shoal.v1.objects_pb2 import Service
from shoal.proto.shoal.v1.specs_pb2 import ServiceSpec
from shoal.proto.shoal.v1.types_pb2 import Version


@dataclass(frozen=True)
class StatusChange:
    """A new UpdateStatus for a service; ROLLBACK also returns it to its previous spec."""

    state: int
    message: str
    started: bool = False  # set started_at (a new rollout begins)
    completed: bool = False  # set completed_at
    rollback: bool = False


def _stamp(at: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(at * 1e9))
    return ts


def changed_service(service: Any, change: StatusChange, now: float, cache: Any) -> Service:
    """Return a copy of SERVICE with CHANGE applied at NOW (wall-clock seconds).

    CACHE gives the other services, whose published ports a rollback's
    endpoint must not take.
    """
    svc = Service()
    svc.CopyFrom(service)
    if change.rollback:
        _swap_specs(svc)
        _set_endpoint(svc, cache)
    status = svc.update_status
    if change.started:
        status.Clear()
        status.started_at.CopyFrom(_stamp(now))
    status.state = change.state  # type: ignore[assignment]
    status.message = change.message
    if change.completed:
        status.completed_at.CopyFrom(_stamp(now))
    else:
        status.ClearField("completed_at")
    return svc


def _swap_specs(svc: Service) -> None:
    """Make the previous spec current and the current one previous, with their versions."""
    spec, version = ServiceSpec(), Version()
    spec.CopyFrom(svc.spec)
    version.CopyFrom(svc.spec_version)
    svc.spec.CopyFrom(svc.previous_spec)
    svc.spec_version.CopyFrom(svc.previous_spec_version)
    svc.previous_spec.CopyFrom(spec)
    svc.previous_spec_version.CopyFrom(version)


def _set_endpoint(svc: Service, cache: Any) -> None:
    """Publish the ports the restored spec asks, keeping the ports it holds (controlapi's rule)."""
    used = [
        (p.protocol, p.published_port)
        for other in cache.list(Service, copy=False)
        if other.id != svc.id and not other.pending_delete
        for p in other.endpoint.ports
        if p.published_port
    ]
    try:
        ports = endpoint_ports(svc.spec.endpoint.ports, svc.endpoint.ports, used)
    except AllocationError:
        return  # no free port: keep what is published; the tasks still roll back
    svc.endpoint.spec.CopyFrom(svc.spec.endpoint)
    del svc.endpoint.ports[:]
    svc.endpoint.ports.extend(ports)
