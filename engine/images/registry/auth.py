"""Answering registry challenges: basic auth and bearer tokens, cached per scope.

A bearer token is fetched from the challenge's realm with GET
?service=...&scope=repository:NAME:pull,push (basic credentials when the user
gave some; an identity token is sent as a refresh token by POST, as Docker does),
and kept until shortly before it expires, per (registry, credentials, scopes).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from shoal.engine.images.registry.challenge import Challenge
from shoal.engine.images.registry.credentials import Credentials
from shoal.engine.images.registry.errors import (
    RegistryServerError,
    RegistryUnreachable,
    Unauthorized,
)

DEFAULT_TOKEN_LIFETIME = 60  # seconds, when the token server does not say (the spec's default)
MARGIN = 5  # refresh a token this long before it expires


def basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@dataclass
class TokenCache:
    """Bearer tokens by (registry, credentials identity, scopes), with their expiry."""

    tokens: dict[tuple[str, str, str], tuple[str, float]] = field(default_factory=dict)

    def get(self, key: tuple[str, str, str]) -> str | None:
        hit = self.tokens.get(key)
        if hit is None or hit[1] <= time.monotonic():
            self.tokens.pop(key, None)
            return None
        return hit[0]

    def put(self, key: tuple[str, str, str], token: str, lifetime: float) -> None:
        self.tokens[key] = (token, time.monotonic() + max(lifetime - MARGIN, 1))


def _lifetime(body: dict[str, Any]) -> float:
    try:
        return float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
    except (TypeError, ValueError):
        return DEFAULT_TOKEN_LIFETIME


async def fetch_token(
    session: aiohttp.ClientSession,
    challenge: Challenge,
    scopes: list[str],
    creds: Credentials,
    host: str,
    ssl_ctx: Any,
) -> tuple[str, float]:
    """Ask the challenge's token server for a token covering SCOPES; return (token, lifetime).

    HOST names the registry (and repository) in messages.
    """
    realm = challenge.realm
    if not realm:
        raise RegistryServerError(f"{host}: bearer challenge without a realm")
    service = challenge.params.get("service", "")
    try:
        if creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                    "client_id": "shoal", "service": service, "scope": " ".join(scopes)}
            resp = await session.post(realm, data=form, ssl=ssl_ctx)
        else:
            params = [("service", service)] if service else []
            params += [("scope", s) for s in scopes]
            headers = {"Authorization": basic_header(creds)} if creds else {}
            resp = await session.get(realm, params=params, headers=headers, ssl=ssl_ctx)
        async with resp:
            if resp.status in (401, 403):
                if not creds:
                    raise Unauthorized(f"unauthorized: authentication required for {host}")
                raise Unauthorized(f"unauthorized: authentication failed as {creds.username}"
                                   f" for {host} (token server {realm} answered {resp.status})")
            if resp.status != 200:
                text = (await resp.text())[:200]
                raise RegistryServerError(
                    f"{host}: token server {realm} answered {resp.status}: {text}")
            body = await resp.json(content_type=None)
    except aiohttp.ClientError as exc:
        raise RegistryUnreachable(f"{host}: cannot reach token server {realm}: {exc}") from exc
    token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistryServerError(f"{host}: token server {realm} sent no token")
    return token, _lifetime(body)
