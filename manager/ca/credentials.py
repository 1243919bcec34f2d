"""A node's TLS credentials: its key, its certificate and the cluster's root CA.

On disk (docs/cluster.md) they live in one directory, `<data_root>/swarm/`:

    node.key    the node's private key, PEM, mode 0600
    node.crt    its certificate, PEM
    ca.crt      the cluster's root CA certificate, PEM

Files are written to a temporary name and renamed, so a crash never leaves
half a key behind.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from shoal.manager.ca.certs import Identity, identity_of, load_cert, verify_node_cert
from shoal.manager.ca.errors import CertificateError
from shoal.proto.shoal.v1 import types_pb2

KEY_FILE = "node.key"
CERT_FILE = "node.crt"
CA_FILE = "ca.crt"


@dataclass(frozen=True)
class NodeCredentials:
    """What a node needs to talk mutual TLS to the cluster."""

    node_id: str
    role: types_pb2.NodeRole
    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes, ca_pem: bytes) -> NodeCredentials:
        """Return credentials after checking that the certificate is CA_PEM's and KEY_PEM's."""
        ident = verify_node_cert(cert_pem, ca_pem, key_pem)
        return cls(ident.node_id, ident.role, key_pem, cert_pem, ca_pem)

    @property
    def identity(self) -> Identity:
        return identity_of(self.cert_pem)

    @property
    def cluster_id(self) -> str:
        return self.identity.cluster_id

    @property
    def expires_at(self) -> datetime.datetime:
        return load_cert(self.cert_pem).not_valid_after_utc

    def save(self, directory: Path | str) -> None:
        """Write node.key (0600), node.crt and ca.crt into DIRECTORY (created 0700)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write(d / KEY_FILE, self.key_pem, 0o600)
        _write(d / CERT_FILE, self.cert_pem, 0o644)
        _write(d / CA_FILE, self.ca_pem, 0o644)

    @classmethod
    def load(cls, directory: Path | str) -> NodeCredentials:
        """Read and check the credentials saved in DIRECTORY.

        Raises FileNotFoundError if any file is missing, CertificateError if
        they do not fit together or the certificate has expired.
        """
        d = Path(directory)
        key, cert, ca = ((d / f).read_bytes() for f in (KEY_FILE, CERT_FILE, CA_FILE))
        try:
            return cls.from_pem(key, cert, ca)
        except CertificateError as exc:
            raise CertificateError(f"the node credentials in {d} are unusable: {exc}") from exc

    @staticmethod
    def exist(directory: Path | str) -> bool:
        """Return whether DIRECTORY holds all three files."""
        d = Path(directory)
        return all((d / f).is_file() for f in (KEY_FILE, CERT_FILE, CA_FILE))


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(fd, mode)  # the umask must not change it
        f.write(data)
        f.flush()
        os.fsync(fd)
    os.replace(tmp, path)
