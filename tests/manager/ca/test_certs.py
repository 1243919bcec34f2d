"""Root CA, node certificates, CSRs and saved credentials (no network)."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from shoal.manager.ca import (
    CertificateError,
    InvalidCSR,
    InvalidRequest,
    NodeCredentials,
    RootCA,
    cert_digest,
    generate_key,
    identity_of,
    make_csr,
    verify_node_cert,
)
from shoal.proto.shoal.v1 import types_pb2

CLUSTER = "c" * 25


@pytest.fixture(scope="module")
def root() -> RootCA:
    return RootCA.create()


def issue(root: RootCA, key: bytes, role=types_pb2.WORKER, node_id="n1", **kw) -> bytes:
    return root.issue(make_csr(key), node_id=node_id, role=role, cluster_id=CLUSTER, **kw)


def test_root_ca_is_a_p256_self_signed_ca_for_20_years(root: RootCA) -> None:
    cert = x509.load_pem_x509_certificate(root.cert_pem)
    key = serialization.load_pem_private_key(root.key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=20 * 365) <= life <= datetime.timedelta(days=20 * 365, hours=2)


def test_digest_is_sha256_of_der(root: RootCA) -> None:
    der = x509.load_pem_x509_certificate(root.cert_pem).public_bytes(serialization.Encoding.DER)
    assert root.digest == cert_digest(root.cert_pem) == "sha256:" + hashlib.sha256(der).hexdigest()


def test_node_certificate_subject_san_and_expiry(root: RootCA) -> None:
    key = generate_key()
    pem = issue(root, key, types_pb2.MANAGER, "node1", addresses=["10.0.0.5:4242", "host.lan"])
    cert = x509.load_pem_x509_certificate(pem)
    subject = {a.oid: a.value for a in cert.subject}
    assert subject[NameOID.COMMON_NAME] == "node1"
    assert subject[NameOID.ORGANIZATIONAL_UNIT_NAME] == "swarm-manager"
    assert subject[NameOID.ORGANIZATION_NAME] == CLUSTER
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["swarm-manager", "node1", "host.lan"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=89) < left <= datetime.timedelta(days=90)
    ident = verify_node_cert(pem, root.cert_pem, key)
    assert (ident.node_id, ident.role, ident.cluster_id) == ("node1", types_pb2.MANAGER, CLUSTER)
    assert ident.is_manager and identity_of(pem) == ident


def test_expiry_is_configurable_and_capped_by_the_ca(root: RootCA) -> None:
    pem = issue(root, generate_key(), expiry=datetime.timedelta(hours=2))
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) < datetime.timedelta(
        hours=2, minutes=1
    )
    pem = issue(root, generate_key(), expiry=datetime.timedelta(days=365 * 50))
    ca = x509.load_pem_x509_certificate(root.cert_pem)
    assert x509.load_pem_x509_certificate(pem).not_valid_after_utc <= ca.not_valid_after_utc


def test_the_ca_ignores_what_the_csr_asks(root: RootCA) -> None:
    k = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "evil"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "swarm-manager"),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(k, hashes.SHA256())
    pem = root.issue(
        csr.public_bytes(serialization.Encoding.PEM),
        node_id="n2",
        role=types_pb2.WORKER,
        cluster_id=CLUSTER,
    )
    ident = identity_of(pem)
    assert (ident.node_id, ident.role) == ("n2", types_pb2.WORKER)


def test_bad_csrs_are_refused(root: RootCA) -> None:
    with pytest.raises(InvalidCSR, match="cannot read the certificate signing request"):
        root.issue(b"garbage", node_id="n", role=types_pb2.WORKER, cluster_id=CLUSTER)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(small, hashes.SHA256())
    )
    with pytest.raises(InvalidCSR, match="at least 2048 bits"):
        root.issue(
            csr.public_bytes(serialization.Encoding.PEM),
            node_id="n",
            role=types_pb2.WORKER,
            cluster_id=CLUSTER,
        )
    with pytest.raises(InvalidRequest, match="neither an IP address nor a DNS name"):
        issue(root, generate_key(), addresses=["hôte"])


def test_verify_refuses_another_ca_and_another_key(root: RootCA) -> None:
    key = generate_key()
    pem = issue(root, key)
    with pytest.raises(CertificateError, match="not signed by the cluster's root CA"):
        verify_node_cert(pem, RootCA.create().cert_pem)
    with pytest.raises(CertificateError, match="does not match the private key"):
        verify_node_cert(pem, root.cert_pem, generate_key())
    with pytest.raises(CertificateError, match="not a node certificate"):
        identity_of(root.cert_pem)


def test_credentials_save_and_load(root: RootCA, tmp_path) -> None:
    key = generate_key()
    creds = NodeCredentials.from_pem(key, issue(root, key), root.cert_pem)
    d = tmp_path / "swarm"
    creds.save(d)
    assert stat.S_IMODE((d / "node.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert NodeCredentials.exist(d)
    assert NodeCredentials.load(d) == creds
    assert creds.cluster_id == CLUSTER and creds.node_id == "n1"
    (d / "node.key").write_bytes(generate_key())
    with pytest.raises(CertificateError, match="unusable: the certificate does not match"):
        NodeCredentials.load(d)
    with pytest.raises(FileNotFoundError):
        NodeCredentials.load(tmp_path / "none")
