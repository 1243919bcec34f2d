"""The cluster's certificate authority, join tokens and mutual TLS (DESIGN.md §4 ca/).

Manager side:

    cluster = await ensure_cluster(store)                 # root CA + join tokens
    ca = CAService(store, cluster.id)
    creds = await ca.issue_local(role=MANAGER, addr=advertise_addr)   # at init
    server = grpc.aio.server(interceptors=[AuthInterceptor(cluster.id)])
    add_CAServicer_to_server(CAServicer(ca), server)
    add_ports(server, "0.0.0.0:4242", creds)             # 4242 mTLS, 4243 CA (TLS)

Node side:

    creds = await join("10.0.0.1:4242", token)            # checks the CA digest
    creds.save(data_root / "swarm")
    channel = secure_channel("10.0.0.1:4242", creds)

See docs/ca.md.
"""

from shoal.manager.ca.addr import CA_PORT_OFFSET, DEFAULT_PORT, ca_address, split_host_port
from shoal.manager.ca.bootstrap import (
    DEFAULT_CLUSTER_NAME,
    default_cluster_spec,
    ensure_cluster,
    new_cluster,
    new_root_ca,
)
from shoal.manager.ca.certs import (
    MANAGER_OU,
    WORKER_OU,
    Identity,
    RootCA,
    cert_digest,
    generate_key,
    identity_of,
    make_csr,
    verify_node_cert,
)
from shoal.manager.ca.credentials import NodeCredentials
from shoal.manager.ca.errors import (
    CADigestMismatch,
    CAError,
    CANotReady,
    CertificateError,
    InvalidCSR,
    InvalidJoinToken,
    InvalidRequest,
    JoinError,
    JoinTokenRejected,
    NotAMember,
)
from shoal.manager.ca.node import fetch_root_ca, join, renew
from shoal.manager.ca.service import CAService, Issued
from shoal.manager.ca.servicer import CAServicer
from shoal.manager.ca.tls import (
    AuthInterceptor,
    add_ports,
    authorize,
    ca_server_credentials,
    channel_credentials,
    channel_options,
    peer_identity,
    secure_channel,
    server_credentials,
)
from shoal.manager.ca.tokens import (
    JoinToken,
    generate_join_token,
    parse_join_token,
    rotate_join_token,
)

__all__ = [
    "CA_PORT_OFFSET",
    "DEFAULT_CLUSTER_NAME",
    "DEFAULT_PORT",
    "MANAGER_OU",
    "WORKER_OU",
    "AuthInterceptor",
    "CADigestMismatch",
    "CAError",
    "CANotReady",
    "CAService",
    "CAServicer",
    "CertificateError",
    "Identity",
    "InvalidCSR",
    "InvalidJoinToken",
    "InvalidRequest",
    "Issued",
    "JoinError",
    "JoinToken",
    "JoinTokenRejected",
    "NodeCredentials",
    "NotAMember",
    "RootCA",
    "add_ports",
    "authorize",
    "ca_address",
    "ca_server_credentials",
    "cert_digest",
    "channel_credentials",
    "channel_options",
    "default_cluster_spec",
    "ensure_cluster",
    "fetch_root_ca",
    "generate_join_token",
    "generate_key",
    "identity_of",
    "join",
    "make_csr",
    "new_cluster",
    "new_root_ca",
    "parse_join_token",
    "peer_identity",
    "renew",
    "rotate_join_token",
    "secure_channel",
    "server_credentials",
    "split_host_port",
    "verify_node_cert",
]
