"""Keys, certificate signing requests, the root CA and node certificates.

A cluster has one self-signed root CA (ECDSA P-256, 20 years). It signs node
certificates whose subject says who the node is, as in SwarmKit:

    CN = node id    OU = role ("swarm-manager" | "swarm-worker")    O = cluster id

and whose SAN holds the role name, the node id and the node's addresses. The
role name in the SAN lets a client check that it talks to a manager without
knowing the manager's address (tls.py verifies the server as "swarm-manager").
The CA decides every field; what the CSR asks besides its public key is
ignored.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.manager.ca.addr import split_host_port
from shoal.manager.ca.errors import CertificateError, InvalidCSR, InvalidRequest
from shoal.proto.shoal.v1 import objects_pb2, types_pb2

MANAGER_OU = "swarm-manager"
WORKER_OU = "swarm-worker"
ROLE_OU = {types_pb2.MANAGER: MANAGER_OU, types_pb2.WORKER: WORKER_OU}
OU_ROLE = {ou: role for role, ou in ROLE_OU.items()}
ROOT_CA_CN = "swarm-ca"
ROOT_CA_EXPIRY = datetime.timedelta(days=20 * 365)
DEFAULT_NODE_CERT_EXPIRY = datetime.timedelta(days=90)
# Certificates start a little in the past so that a peer whose clock is
# slightly behind still accepts them (SwarmKit backdates by 1 hour too).
_BACKDATE = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class Identity:
    """Who a node certificate says its holder is."""

    node_id: str
    role: types_pb2.NodeRole
    cluster_id: str

    @property
    def is_manager(self) -> bool:
        return self.role == types_pb2.MANAGER

    @property
    def role_name(self) -> str:
        """Return "manager" or "worker"."""
        return "manager" if self.is_manager else "worker"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def generate_key() -> bytes:
    """Return a new ECDSA P-256 private key as unencrypted PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_key(key_pem: bytes) -> Any:
    """Return the private key in KEY_PEM; raise CertificateError if unusable."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"cannot read the private key: {exc}") from exc
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise CertificateError("the private key must be ECDSA or RSA")
    return key


def make_csr(key_pem: bytes, node_id: str = "") -> bytes:
    """Return a PEM certificate signing request for KEY_PEM (the CA fills the subject)."""
    key = load_key(key_pem)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)] if node_id else [])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def load_cert(cert_pem: bytes) -> x509.Certificate:
    """Return the first certificate in CERT_PEM; raise CertificateError if unparsable."""
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise CertificateError(f"cannot read the certificate: {exc}") from exc


def cert_digest(cert_pem: bytes) -> str:
    """Return "sha256:<hex>" of the certificate's DER encoding (what join tokens pin)."""
    der = load_cert(cert_pem).public_bytes(serialization.Encoding.DER)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def identity_of(cert: x509.Certificate | bytes) -> Identity:
    """Return the identity a node certificate carries; CertificateError if it has none."""
    if isinstance(cert, bytes):
        cert = load_cert(cert)
    node_id = _attr(cert.subject, NameOID.COMMON_NAME)
    ou = _attr(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    cluster_id = _attr(cert.subject, NameOID.ORGANIZATION_NAME)
    if not node_id or ou not in OU_ROLE or not cluster_id:
        raise CertificateError(
            f"not a node certificate: subject {cert.subject.rfc4514_string()!r} needs "
            f"CN=<node id>, OU={MANAGER_OU}|{WORKER_OU}, O=<cluster id>"
        )
    return Identity(node_id, OU_ROLE[ou], cluster_id)


def verify_node_cert(cert_pem: bytes, ca_pem: bytes, key_pem: bytes | None = None) -> Identity:
    """Check that CERT_PEM is a current node certificate signed by CA_PEM; return its identity.

    With KEY_PEM, also check that the certificate is for that key.
    """
    cert, ca = load_cert(cert_pem), load_cert(ca_pem)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise CertificateError("the certificate is not signed by the cluster's root CA") from exc
    now = _now()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise CertificateError(
            f"the certificate is not valid now (valid {cert.not_valid_before_utc:%Y-%m-%d %H:%M} "
            f"to {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
        )
    if key_pem is not None and _public_der(load_key(key_pem).public_key()) != _public_der(
        cert.public_key()
    ):
        raise CertificateError("the certificate does not match the private key")
    return identity_of(cert)


def _public_der(public_key: Any) -> bytes:
    return bytes(
        public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _san(addresses: tuple[str, ...] | list[str], names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    for addr in addresses:
        if not addr.strip():
            continue
        try:
            host = split_host_port(addr)[0]
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc
        try:
            entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            if not host.isascii():
                raise InvalidRequest(
                    f"address {addr!r} is neither an IP address nor a DNS name"
                ) from None
            entry = x509.DNSName(host)
        if entry not in entries:
            entries.append(entry)
    return x509.SubjectAlternativeName(entries)


def _check_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise InvalidCSR(f"cannot read the certificate signing request: {exc}") from exc
    if not csr.is_signature_valid:
        raise InvalidCSR("the certificate signing request's signature is invalid")
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise InvalidCSR(f"ECDSA keys must use P-256 or P-384, not {key.curve.name}")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise InvalidCSR(f"RSA keys must have at least 2048 bits, not {key.key_size}")
    else:
        raise InvalidCSR("the certificate signing request must be for an ECDSA or RSA key")
    return csr


@dataclass(frozen=True)
class RootCA:
    """The cluster's root certificate and, on managers, its key."""

    cert_pem: bytes
    key_pem: bytes = b""

    @classmethod
    def create(cls, expiry: datetime.timedelta = ROOT_CA_EXPIRY) -> RootCA:
        """Return a new self-signed root CA with an ECDSA P-256 key."""
        key_pem = generate_key()
        key = load_key(key_pem)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CA_CN)])
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + expiry)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert.public_bytes(serialization.Encoding.PEM), key_pem)

    @classmethod
    def from_proto(cls, root_ca: objects_pb2.RootCA) -> RootCA:
        return cls(bytes(root_ca.ca_cert), bytes(root_ca.ca_key))

    @property
    def digest(self) -> str:
        """Return "sha256:<hex>" of the certificate's DER."""
        return cert_digest(self.cert_pem)

    def issue(
        self,
        csr_pem: bytes,
        *,
        node_id: str,
        role: types_pb2.NodeRole,
        cluster_id: str,
        addresses: tuple[str, ...] | list[str] = (),
        expiry: datetime.timedelta = DEFAULT_NODE_CERT_EXPIRY,
    ) -> bytes:
        """Return a PEM node certificate for the key of CSR_PEM, valid for EXPIRY."""
        if not self.key_pem:
            raise CertificateError("this root CA has no key: it can verify but not sign")
        if role not in ROLE_OU:
            raise InvalidRequest(f"unknown node role {role}")
        if not node_id or not cluster_id:
            raise InvalidRequest("a node certificate needs a node id and a cluster id")
        csr = _check_csr(csr_pem)
        ca_cert, ca_key = load_cert(self.cert_pem), load_key(self.key_pem)
        now = _now()
        not_after = min(now + expiry, ca_cert.not_valid_after_utc)
        ou = ROLE_OU[role]
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                x509.NameAttribute(NameOID.COMMON_NAME, node_id),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(_san(addresses, [ou, node_id]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)


def _key_usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
