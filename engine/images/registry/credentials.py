"""Registry credentials: the X-Registry-Auth header and server address normalisation.

X-Registry-Auth is base64url JSON, as the Docker CLI and SDK send it:
{"username", "password", "serveraddress"} or {"identitytoken", "serveraddress"};
"auth" (base64 "user:pass", as in config.json) is accepted too.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from shoal.engine.errors import InvalidArgument
from shoal.engine.images.reference import DEFAULT_DOMAIN

DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io", "docker.io")


@dataclass(frozen=True)
class Credentials:
    """What a user gave to authenticate to one registry."""

    username: str = ""
    password: str = ""
    identity_token: str = ""
    server: str = ""

    def __bool__(self) -> bool:
        return bool(self.username or self.identity_token)

    def identity(self) -> str:
        """Return a key telling credentials apart in caches (never the secret itself)."""
        import hashlib

        raw = f"{self.username}\0{self.password}\0{self.identity_token}".encode()
        return hashlib.sha256(raw).hexdigest()[:16] if self else ""


def normalize_server(server: str) -> str:
    """Return the registry host[:port] of a server address ("https://h:5000/v2/" -> "h:5000").

    Docker Hub's addresses all become "docker.io".
    """
    s = server.strip()
    for prefix in ("https://", "http://"):
        if s.startswith(prefix):
            s = s[len(prefix) :]
    s = s.split("/", 1)[0]
    if not s or s in _HUB_ALIASES:
        return DEFAULT_DOMAIN
    return s


def from_dict(d: dict[str, Any]) -> Credentials:
    """Build credentials from an auth config object (X-Registry-Auth or POST /auth body)."""
    user, password = str(d.get("username") or ""), str(d.get("password") or "")
    if not user and d.get("auth"):
        try:
            user, _, password = base64.b64decode(str(d["auth"])).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidArgument("auth config: \"auth\" is not base64 of user:password") from None
    return Credentials(
        username=user,
        password=password,
        identity_token=str(d.get("identitytoken") or ""),
        server=str(d.get("serveraddress") or ""),
    )


def from_header(value: str | None) -> Credentials:
    """Decode an X-Registry-Auth header; empty credentials when absent or "{}"."""
    if not value or not value.strip():
        return Credentials()
    raw = value.strip()
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        parsed = json.loads(data)
    except (binascii.Error, ValueError):
        try:  # old clients sent plain JSON
            parsed = json.loads(raw)
        except ValueError:
            raise InvalidArgument("X-Registry-Auth: not base64url-encoded JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument("X-Registry-Auth: want a JSON object")
    return from_dict(parsed)
