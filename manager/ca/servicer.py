"""The CA gRPC service (ca.proto): parse, call CAService, map errors to codes."""

from __future__ import annotations

import logging

import grpc

from shoal.manager.ca.errors import (
    CAError,
    CANotReady,
    CertificateError,
    InvalidJoinToken,
    InvalidRequest,
    JoinTokenRejected,
    NotAMember,
)
from shoal.manager.ca.service import CAService
from shoal.manager.ca.tls import peer_identity
from shoal.manager.store import StoreError, StoreUnavailable
from shoal.proto.shoal.v1 import ca_pb2, ca_pb2_grpc

log = logging.getLogger(__name__)

_CODES: list[tuple[type[Exception], grpc.StatusCode]] = [
    (InvalidJoinToken, grpc.StatusCode.INVALID_ARGUMENT),
    (JoinTokenRejected, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (NotAMember, grpc.StatusCode.PERMISSION_DENIED),
    (CANotReady, grpc.StatusCode.UNAVAILABLE),
    (StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
    (CertificateError, grpc.StatusCode.INTERNAL),
]


def status_of(exc: Exception) -> grpc.StatusCode:
    """Return the gRPC code for a CA or store error."""
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


class CAServicer(ca_pb2_grpc.CAServicer):
    """Serves GetRootCACertificate and IssueNodeCertificate."""

    def __init__(self, service: CAService) -> None:
        self.service = service

    async def GetRootCACertificate(
        self, request: ca_pb2.GetRootCACertificateRequest, context: grpc.aio.ServicerContext
    ) -> ca_pb2.GetRootCACertificateResponse:
        try:
            pem = self.service.root_ca_pem()
        except CAError as exc:
            await context.abort(status_of(exc), str(exc))
        return ca_pb2.GetRootCACertificateResponse(certificate=pem)

    async def IssueNodeCertificate(
        self, request: ca_pb2.IssueNodeCertificateRequest, context: grpc.aio.ServicerContext
    ) -> ca_pb2.IssueNodeCertificateResponse:
        try:
            issued = await self.service.issue(
                bytes(request.csr),
                request.token,
                availability=request.availability,
                addr=request.addr,
                peer=peer_identity(context),
            )
        except (CAError, StoreError) as exc:
            code = status_of(exc)
            if code == grpc.StatusCode.INTERNAL:
                log.exception("issuing a node certificate failed")
            await context.abort(code, str(exc))
        return ca_pb2.IssueNodeCertificateResponse(
            node_id=issued.node_id,
            role=issued.role,
            certificate=issued.cert_pem,
            ca_certificate=issued.ca_pem,
        )
