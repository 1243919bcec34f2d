"""Errors of the registry client (subclasses of shoal.engine.errors).

RegistryError(EngineError)                 base: talking to a registry went wrong     -> 500
  Unauthorized                             401 from the registry or the token server  -> 401
  RegistryNotFound(NotFound)               404: manifest, blob or repository unknown   -> 404
  RegistryServerError                      the registry answered 5xx (its body quoted) -> 500
  RegistryUnreachable                      connection refused, TLS failure, timeout   -> 500
  RegistryDigestMismatch(DigestMismatch)   a blob or manifest does not hash to its digest -> 500
  UnsupportedManifest                      a manifest shoal cannot use (schema 1, ...) -> 500

The API maps them to HTTP statuses in engine/api/errors.py only.
"""

from __future__ import annotations

from typing import Any

from shoal.engine.errors import EngineError, NotFound
from shoal.engine.images.errors import DigestMismatch


class RegistryError(EngineError):
    """Talking to a registry went wrong."""


class Unauthorized(RegistryError):
    """The registry (or its token server) refused the credentials, or wanted some."""


class RegistryNotFound(RegistryError, NotFound):
    """The registry has no such manifest, blob or repository."""


class RegistryServerError(RegistryError):
    """The registry answered with a server error."""


class RegistryUnreachable(RegistryError):
    """The registry could not be reached (connection, TLS, timeout)."""


class RegistryDigestMismatch(RegistryError, DigestMismatch):
    """Content served by a registry does not hash to the digest it was asked for."""


class UnsupportedManifest(RegistryError):
    """A manifest of a kind shoal does not pull (Docker schema 1, unknown media type)."""


def describe_errors(body: Any) -> str:
    """Return the registry's error body as one line: "code: message (detail)", joined by "; "."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return ""
    parts = []
    for e in errors:
        if not isinstance(e, dict):
            continue
        code = str(e.get("code") or "").lower().replace("_", " ")
        msg = str(e.get("message") or "")
        text = f"{code}: {msg}" if code and msg and code != msg else (msg or code)
        parts.append(text)
    return "; ".join(p for p in parts if p)
