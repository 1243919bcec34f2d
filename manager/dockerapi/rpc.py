"""Map gRPC errors of the Control API to HTTP statuses and Docker's `{"message": ...}`."""

from __future__ import annotations

import grpc

_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 503,
}


def code_of(err: BaseException) -> grpc.StatusCode | None:
    """Return the status code of a gRPC error, None for anything else."""
    code = getattr(err, "code", None)
    if not isinstance(err, grpc.RpcError) or not callable(code):
        return None
    value = code()
    return value if isinstance(value, grpc.StatusCode) else None


def is_not_found(err: BaseException) -> bool:
    return code_of(err) == grpc.StatusCode.NOT_FOUND


def http_error(err: grpc.RpcError) -> tuple[int, str]:
    """Return the HTTP status and message for ERR (the server's own message)."""
    code = code_of(err)
    details = getattr(err, "details", None)
    message = details() if callable(details) else ""
    if not message:
        message = f"rpc error: code = {code.name if code else 'UNKNOWN'}"
    return _HTTP.get(code, 500) if code is not None else 500, message
