"""The node side of joining: fetch and check the root CA, get a certificate.

    creds = await join("10.0.0.1:4242", token)      # the manager's main address
    creds.save(data_root / "swarm")

`join` talks to the manager's CA port (main port + 1 unless `ca_addr` says
otherwise, see tls.py). It first fetches the root CA over TLS without
verifying the manager (nothing is trusted yet): it pins whatever certificate
the manager presents for that one call. The answer is trusted only if its
digest is the one the join token carries. The token itself is sent only in
the second call, over TLS verified with that root CA, so a man in the middle
never sees it. The key never leaves the node: the CA signs a CSR.
"""

from __future__ import annotations

import asyncio
import ssl

import grpc

from shoal.manager.ca.addr import ca_address, split_host_port
from shoal.manager.ca.certs import cert_digest, generate_key, make_csr
from shoal.manager.ca.credentials import NodeCredentials
from shoal.manager.ca.errors import CADigestMismatch, CertificateError, JoinError
from shoal.manager.ca.tls import channel_credentials, channel_options
from shoal.manager.ca.tokens import parse_join_token
from shoal.proto.shoal.v1 import ca_pb2, ca_pb2_grpc

DEFAULT_TIMEOUT = 10.0


async def fetch_root_ca(ca_addr: str, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """Return the root CA that the manager at CA_ADDR serves, without verifying it."""
    try:
        host, port = split_host_port(ca_addr)
    except ValueError as exc:
        raise JoinError(f"invalid CA address {ca_addr!r}: {exc}") from exc
    try:
        presented = await asyncio.to_thread(
            ssl.get_server_certificate, (host, port), timeout=timeout
        )
    except (OSError, ssl.SSLError) as exc:
        raise JoinError(f"cannot reach the manager's CA at {ca_addr}: {exc}") from exc
    # Trust, for this call only, the very certificate the manager presented.
    creds = grpc.ssl_channel_credentials(root_certificates=presented.encode())
    async with grpc.aio.secure_channel(ca_addr, creds, options=channel_options()) as channel:
        try:
            resp = await ca_pb2_grpc.CAStub(channel).GetRootCACertificate(
                ca_pb2.GetRootCACertificateRequest(), timeout=timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise JoinError(
                f"cannot get the root CA from {ca_addr}: {exc.details() or exc.code().name}"
            ) from exc
    return bytes(resp.certificate)


async def join(
    addr: str,
    token: str,
    *,
    ca_addr: str = "",
    availability: str = "",
    advertise_addr: str = "",
    timeout: float = DEFAULT_TIMEOUT,
) -> NodeCredentials:
    """Join the cluster of the manager at ADDR with TOKEN; return the node's credentials.

    Raises InvalidJoinToken for a malformed token, CADigestMismatch when the
    manager's root CA is not the one TOKEN pins, JoinError when the manager
    cannot be reached or refuses (its message is kept).
    """
    pinned = parse_join_token(token)
    try:
        ca_addr = ca_addr or ca_address(addr)
    except ValueError as exc:
        raise JoinError(f"invalid manager address {addr!r}: {exc}") from exc
    ca_pem = await fetch_root_ca(ca_addr, timeout)
    try:
        served = cert_digest(ca_pem)
    except CertificateError as exc:
        raise JoinError(f"the manager at {ca_addr} served an unusable root CA: {exc}") from exc
    if not pinned.matches_ca(ca_pem):
        raise CADigestMismatch(
            f"the CA digest in the join token does not match the root CA of the manager at "
            f"{ca_addr}: the token pins {pinned.ca_digest}, the manager serves {served}; "
            "check the token and the address"
        )
    key = generate_key()
    request = ca_pb2.IssueNodeCertificateRequest(
        csr=make_csr(key), token=token, availability=availability, addr=advertise_addr
    )
    creds = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    async with grpc.aio.secure_channel(ca_addr, creds, options=channel_options()) as channel:
        resp = await _issue(channel, request, ca_addr, timeout)
    return _credentials(key, resp, ca_pem)


async def renew(
    addr: str, creds: NodeCredentials, timeout: float = DEFAULT_TIMEOUT
) -> NodeCredentials:
    """Return new credentials (new key, same node id, the role managers want) from ADDR.

    ADDR is a manager's main port: the renewal is authenticated by the current
    certificate, so no token is needed.
    """
    key = generate_key()
    request = ca_pb2.IssueNodeCertificateRequest(csr=make_csr(key))
    async with grpc.aio.secure_channel(
        addr, channel_credentials(creds), options=channel_options()
    ) as channel:
        resp = await _issue(channel, request, addr, timeout)
    return _credentials(key, resp, creds.ca_pem)


async def _issue(
    channel: grpc.aio.Channel,
    request: ca_pb2.IssueNodeCertificateRequest,
    addr: str,
    timeout: float,
) -> ca_pb2.IssueNodeCertificateResponse:
    try:
        return await ca_pb2_grpc.CAStub(channel).IssueNodeCertificate(request, timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        raise JoinError(
            f"the manager at {addr} refused the certificate request: "
            f"{exc.details() or exc.code().name}"
        ) from exc


def _credentials(
    key: bytes, resp: ca_pb2.IssueNodeCertificateResponse, ca_pem: bytes
) -> NodeCredentials:
    try:
        creds = NodeCredentials.from_pem(key, bytes(resp.certificate), ca_pem)
    except CertificateError as exc:
        raise JoinError(f"the manager issued an unusable certificate: {exc}") from exc
    if creds.node_id != resp.node_id or creds.role != resp.role:
        raise JoinError("the manager's answer does not match the certificate it issued")
    return creds
