"""Errors of the CA, mapped to gRPC codes only by the servicer (servicer.py).

CAError                     base of everything below
├── InvalidJoinToken        the token is malformed: wrong prefix, version,
│                           length or alphabet (INVALID_ARGUMENT)
├── JoinTokenRejected       the token is well formed but is not one of this
│                           cluster's current tokens (INVALID_ARGUMENT, as Docker)
├── InvalidRequest          a join or renewal request is unusable: bad
│   │                       availability, address... (INVALID_ARGUMENT)
│   └── InvalidCSR          the certificate signing request cannot be used
├── NotAMember              a renewal by a node the cluster does not know
│                           (PERMISSION_DENIED)
├── CANotReady              the cluster object or its root CA is missing
│                           (UNAVAILABLE)
├── CertificateError        a certificate or key on disk or on the wire is
│                           unusable: unparsable, expired, wrong issuer
└── JoinError               the node side could not join: the manager is
    └── CADigestMismatch    unreachable or refused; or the root CA it serves is
                            not the one the join token pins
"""

from __future__ import annotations


class CAError(Exception):
    """Base of the CA's errors."""


class InvalidJoinToken(CAError):
    """The join token is malformed."""


class JoinTokenRejected(CAError):
    """The join token is not a current token of this cluster."""

    def __init__(self) -> None:
        super().__init__("A valid join token is necessary to join this cluster")


class InvalidRequest(CAError):
    """A join or renewal request is unusable."""


class InvalidCSR(InvalidRequest):
    """The certificate signing request is unusable."""


class NotAMember(CAError):
    """A node certificate was presented by a node the cluster does not know."""


class CANotReady(CAError):
    """The cluster object or its root CA is not in the store (yet)."""


class CertificateError(CAError):
    """A certificate or key is unparsable, expired or not issued by the expected CA."""


class JoinError(CAError):
    """Joining failed on the node side."""


class CADigestMismatch(JoinError):
    """The manager serves a root CA other than the one the join token pins."""
