"""Join tokens, in Docker's format: SWMTKN-1-<CA digest>-<secret>.

The CA digest is the SHA-256 of the root CA certificate's DER, written as a
base36 number padded to 50 characters: a joining node checks the CA that a
manager serves against it before trusting that manager (node.py). The secret
is 128 random bits in base36, padded to 25 characters; it decides the role:
the cluster keeps one token for workers and one for managers
(RootCA.join_tokens) and a join presents the whole token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from shoal.manager.ca.certs import cert_digest
from shoal.manager.ca.errors import InvalidJoinToken

PREFIX = "SWMTKN"
VERSION = "1"
DIGEST_LENGTH = 50  # 256 bits in base36
SECRET_LENGTH = 25  # 128 bits in base36
SECRET_BITS = 128
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int, width: int) -> str:
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out)).rjust(width, "0")


def _parse_base36(text: str, what: str, width: int, bits: int) -> int:
    if len(text) != width:
        raise InvalidJoinToken(
            f"invalid join token: the {what} must be {width} base36 characters, not {len(text)}"
        )
    bad = sorted({c for c in text if c not in _ALPHABET})
    if bad:
        raise InvalidJoinToken(
            f"invalid join token: the {what} has characters outside 0-9 and a-z: {''.join(bad)!r}"
        )
    value = int(text, 36)
    if value >> bits:
        raise InvalidJoinToken(f"invalid join token: the {what} is larger than {bits} bits")
    return value


@dataclass(frozen=True)
class JoinToken:
    """A parsed join token."""

    # ca_digest is "sha256:<64 hex>", as RootCA.ca_cert_hash.
    ca_digest: str
    secret: str
    version: str = VERSION

    def __str__(self) -> str:
        hexdigest = self.ca_digest.removeprefix("sha256:")
        digest = _base36(int(hexdigest, 16), DIGEST_LENGTH)
        return f"{PREFIX}-{self.version}-{digest}-{self.secret}"

    def matches_ca(self, ca_pem: bytes) -> bool:
        """Return whether CA_PEM is the root CA this token pins."""
        return hmac.compare_digest(cert_digest(ca_pem), self.ca_digest)


def generate_join_token(ca_digest: str) -> str:
    """Return a new token pinning CA_DIGEST ("sha256:<hex>") with a fresh random secret."""
    if not ca_digest.startswith("sha256:") or len(ca_digest) != 7 + 64:
        raise ValueError(f"not a sha256 digest: {ca_digest!r}")
    secret = _base36(secrets.randbits(SECRET_BITS), SECRET_LENGTH)
    return str(JoinToken(ca_digest, secret))


def parse_join_token(token: str) -> JoinToken:
    """Return the parts of TOKEN; raise InvalidJoinToken saying what is wrong."""
    token = token.strip()
    if not token:
        raise InvalidJoinToken("invalid join token: the token is empty")
    parts = token.split("-")
    if parts[0] != PREFIX:
        raise InvalidJoinToken(f"invalid join token: it must start with {PREFIX}-")
    if len(parts) != 4:
        raise InvalidJoinToken(
            f"invalid join token: expected {PREFIX}-{VERSION}-<CA digest>-<secret>, "
            f"got {len(parts)} dash-separated parts instead of 4"
        )
    _, version, digest, secret = parts
    if version != VERSION:
        raise InvalidJoinToken(
            f"invalid join token: version {version!r} is not supported (expected {VERSION!r})"
        )
    value = _parse_base36(digest, "CA digest", DIGEST_LENGTH, 256)
    _parse_base36(secret, "secret", SECRET_LENGTH, SECRET_BITS)
    return JoinToken(f"sha256:{value:064x}", secret, version)


def rotate_join_token(token: str, ca_digest: str = "") -> str:
    """Return a new token for the same CA as TOKEN (or CA_DIGEST, if given) with a new secret."""
    return generate_join_token(ca_digest or parse_join_token(token).ca_digest)


def same_token(a: str, b: str) -> bool:
    """Return whether two tokens are equal, in constant time."""
    return hmac.compare_digest(a.strip().encode(), b.strip().encode())
