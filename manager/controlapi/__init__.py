"""The Control API (control.proto): the user's view of the cluster (DESIGN.md §1, §4).

    service = ControlService(store, cluster_id)       # logic, no network
    svc = await service.create_service(spec)
    server.add_ControlServicer_to_server(ControlServicer(store, cluster_id), server)

Reads come from the watch cache; writes use the store's optimistic
concurrency. errors.py lists the errors and servicer.py their gRPC codes.
"""

from shoal.manager.controlapi.constraints import Constraint, parse_constraint
from shoal.manager.controlapi.errors import (
    ControlError,
    FailedPrecondition,
    InvalidArgument,
    Unimplemented,
)
from shoal.manager.controlapi.service import ControlService
from shoal.manager.controlapi.servicer import ControlServicer, status_of

__all__ = [
    "Constraint",
    "ControlError",
    "ControlService",
    "ControlServicer",
    "FailedPrecondition",
    "InvalidArgument",
    "Unimplemented",
    "parse_constraint",
    "status_of",
]
