"""Debian's docker-registry on loopback for tests, in four variants.

    plain    HTTP, no auth
    htpasswd HTTP, basic auth (bcrypt htpasswd; user "tester", password "s3cret")
    tls      HTTPS with a server certificate from a CA made here (ca.crt beside it)
    token    HTTP, bearer tokens from a tiny token server in this process, signed
             with a key whose certificate the registry trusts (auth.token.rootcertbundle)

Each instance stores into its own temp dir; stop() ends the process by pid.
Loaded by path (tests are not a package): see conftest.py.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import ipaddress
import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REGISTRY_BIN = "/usr/bin/docker-registry"
USER, PASSWORD = "tester", "s3cret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class CA:
    """A self-signed CA and certificates it issues (EC P-256)."""

    def __init__(self, directory: Path, name: str = "shoal test CA") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._x509, self._hashes, self._ser, self._ec = x509, hashes, serialization, ec
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = directory / "ca.crt"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue_server(self, host: str) -> tuple[Path, Path]:
        """Write a server certificate and key for HOST (an IP); return their paths."""
        x509, ser = self._x509, self._ser
        from cryptography.x509.oid import NameOID

        key = self._ec.generate_private_key(self._ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]),
                critical=False)
            .sign(self.key, self._hashes.SHA256())
        )
        crt, kp = self.dir / "server.crt", self.dir / "server.key"
        crt.write_bytes(cert.public_bytes(ser.Encoding.PEM))
        kp.write_bytes(key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8,
                                         ser.NoEncryption()))
        return crt, kp

    def sign_jwt(self, claims: dict[str, Any]) -> str:
        """Return an ES256 JWT of CLAIMS with this CA's certificate in x5c."""
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        der = self.cert.public_bytes(self._ser.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        signing = (_b64url(json.dumps(header).encode()) + "." +
                   _b64url(json.dumps(claims).encode())).encode()
        r, s = decode_dss_signature(self.key.sign(signing, self._ec.ECDSA(self._hashes.SHA256())))
        return signing.decode() + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class TokenServer:
    """Issue registry tokens to USER/PASSWORD (and anonymous pull tokens when ANON_PULL)."""

    def __init__(self, ca: CA, service: str, issuer: str) -> None:
        self.ca, self.service, self.issuer = ca, service, issuer
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_a: Any) -> None:
                return None

            def do_GET(self) -> None:
                from urllib.parse import parse_qs, urlparse

                outer.requests.append(self.path)
                q = parse_qs(urlparse(self.path).query)
                given = self.headers.get("Authorization", "")
                want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if given != want:
                    self.send_response(401)
                    self.end_headers()
                    return
                access = []
                for scope in q.get("scope", []):
                    kind, name, actions = scope.split(":")
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
                now = int(time.time())
                token = outer.ca.sign_jwt({
                    "iss": outer.issuer, "sub": USER, "aud": outer.service,
                    "exp": now + 300, "nbf": now - 10, "iat": now,
                    "jti": base64.b16encode(now.to_bytes(8, "big")).decode(), "access": access,
                })
                body = json.dumps({"token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Registry:
    """One docker-registry process on 127.0.0.1:<free port>."""

    def __init__(self, directory: Path, variant: str = "plain") -> None:
        self.dir, self.variant = directory, variant
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ca: CA | None = None
        self.tokens: TokenServer | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.variant == "tls" else "http"

    def _config(self) -> str:
        lines = [
            "version: 0.1",
            "log: {level: warn}",
            f"storage: {{filesystem: {{rootdirectory: {self.dir / 'storage'}}},"
            " delete: {enabled: true}}",
            f"http: {{addr: '127.0.0.1:{self.port}'"
        ]
        if self.variant == "tls":
            self.ca = CA(self.dir)
            crt, key = self.ca.issue_server("127.0.0.1")
            lines[-1] += f", tls: {{certificate: {crt}, key: {key}}}"
        lines[-1] += "}"
        if self.variant == "htpasswd":
            import bcrypt

            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
            (self.dir / "htpasswd").write_text(f"{USER}:{hashed}\n")
            path = self.dir / "htpasswd"
            lines.append(f"auth: {{htpasswd: {{realm: shoal-test, path: {path}}}}}")
        if self.variant == "token":
            self.ca = CA(self.dir, "shoal token signer")
            self.tokens = TokenServer(self.ca, "shoal-registry", "shoal-issuer")
            realm = f"http://127.0.0.1:{self.tokens.port}/token"
            lines.append(
                f"auth: {{token: {{realm: '{realm}', service: shoal-registry,"
                f" issuer: shoal-issuer, rootcertbundle: {self.ca.cert_path}}}}}"
            )
        return "\n".join(lines) + "\n"

    def start(self) -> Registry:
        cfg = self.dir / "config.yml"
        cfg.write_text(self._config())
        log = open(self.dir / "registry.log", "ab")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg)], stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log_tail()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("docker-registry did not listen in 20s: " + self.log_tail())

    def log_tail(self) -> str:
        try:
            return (self.dir / "registry.log").read_text()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.tokens is not None:
            self.tokens.stop()

    def get(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        """GET /v2/PATH anonymously (plain variant) for checks from the test."""
        accept = ("application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json")
        req = urllib.request.Request(f"http://{self.host}/v2/{path}", headers={"Accept": accept})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def blob_files(self) -> list[Path]:
        root = self.dir / "storage" / "docker" / "registry" / "v2" / "blobs"
        return [p for p in root.rglob("data")] if root.exists() else []
