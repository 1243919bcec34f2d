"""HTTP to one repository of one registry: authentication, retries on 401, error mapping.

Requests go out unauthenticated until the registry answers 401 with a challenge;
the challenge is remembered per registry, so later requests (and later pulls)
send a cached bearer token or basic credentials up front and the usual path
costs no extra round trip. Connections are kept alive by the aiohttp session.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from shoal.engine.images.registry import challenge as chal
from shoal.engine.images.registry.auth import TokenCache, basic_header, fetch_token
from shoal.engine.images.registry.credentials import Credentials
from shoal.engine.images.registry.endpoint import Endpoint
from shoal.engine.images.registry.errors import (
    RegistryError,
    RegistryNotFound,
    RegistryServerError,
    RegistryUnreachable,
    Unauthorized,
    describe_errors,
)


@dataclass
class AuthState:
    """What the daemon remembers between operations: challenges per host, bearer tokens."""

    challenges: dict[str, chal.Challenge] = field(default_factory=dict)
    tokens: TokenCache = field(default_factory=TokenCache)


class RepoClient:
    """Send requests about repository PATH of a registry, authenticated for SCOPES."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: Endpoint,
        path: str,
        creds: Credentials,
        state: AuthState,
        scopes: list[str],
    ) -> None:
        self.session = session
        self.endpoint = endpoint
        self.path = path
        self.creds = creds
        self.state = state
        self.scopes = scopes

    @property
    def repo(self) -> str:
        """Return the repository as users name it (127.0.0.1:5000/foo)."""
        return f"{self.endpoint.host}/{self.path}" if self.path else self.endpoint.host

    def url(self, sub: str) -> str:
        """Return the URL of SUB ("manifests/latest", "blobs/uploads/") in this repository."""
        return self.endpoint.url(f"{self.path}/{sub}")

    def _token_key(self) -> tuple[str, str, str]:
        return (self.endpoint.host, self.creds.identity(), " ".join(self.scopes))

    async def _authorization(self, refresh: bool = False) -> str | None:
        c = self.state.challenges.get(self.endpoint.host)
        if c is None:
            return None
        if c.scheme == "basic":
            if not self.creds or self.creds.identity_token:
                raise Unauthorized(f"unauthorized: authentication required for {self.repo}")
            return basic_header(self.creds)
        key = self._token_key()
        token = None if refresh else self.state.tokens.get(key)
        if token is None:
            token, lifetime = await fetch_token(
                self.session, c, self.scopes, self.creds, self.repo, self.endpoint.ssl
            )
            self.state.tokens.put(key, token, lifetime)
        return "Bearer " + token

    async def _send(
        self, method: str, url: str, headers: dict[str, str], data: Any
    ) -> aiohttp.ClientResponse:
        try:
            return await self.session.request(
                method, url, headers=headers, data=data, ssl=self.endpoint.ssl or False
            )
        except (aiohttp.ClientError, OSError) as exc:
            raise RegistryUnreachable(f"cannot reach registry {self.endpoint.host}: {exc}") from exc

    async def request(
        self,
        method: str,
        sub_or_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        ok: tuple[int, ...] = (200,),
        what: str = "",
    ) -> aiohttp.ClientResponse:
        """Send a request and return the response (the caller releases it).

        A status outside OK raises the matching RegistryError; WHAT names the
        object for messages ("manifest 127.0.0.1:5000/foo:latest").
        """
        url = sub_or_url if "://" in sub_or_url else self.url(sub_or_url)
        hdrs = dict(headers or {})
        auth = await self._authorization()
        if auth:
            hdrs["Authorization"] = auth
        resp = await self._send(method, url, hdrs, data)
        if resp.status == 401:
            header = resp.headers.get("WWW-Authenticate", "")
            await _drain(resp)
            picked = chal.pick(chal.parse(header))
            if picked is None:
                raise Unauthorized(f"unauthorized: authentication required for {self.repo}")
            known = self.state.challenges.get(self.endpoint.host)
            self.state.challenges[self.endpoint.host] = picked
            if known is not None and known.scheme == "basic" and auth:
                raise Unauthorized(f"unauthorized: authentication required for {self.repo}")
            auth = await self._authorization(refresh=True)
            if auth:
                hdrs["Authorization"] = auth
            resp = await self._send(method, url, hdrs, data)
        if resp.status in ok:
            return resp
        raise await error_for(resp, self.repo, what or f"{method} {url}")


async def _drain(resp: aiohttp.ClientResponse) -> bytes:
    try:
        return await resp.read()
    except aiohttp.ClientError:
        return b""
    finally:
        resp.release()


async def error_for(resp: aiohttp.ClientResponse, repo: str, what: str) -> RegistryError:
    """Return the error for an unexpected answer, quoting the registry's error body."""
    raw = await _drain(resp)
    try:
        detail = describe_errors(json.loads(raw)) if raw else ""
    except ValueError:
        detail = raw[:200].decode(errors="replace").strip()
    status = resp.status
    if status == 401:
        return Unauthorized(f"unauthorized: authentication required for {repo}"
                            + (f" ({detail})" if detail else ""))
    if status == 403:
        return Unauthorized(f"denied: access to {repo} refused" + (f": {detail}" if detail else ""))
    if status == 404:
        return RegistryNotFound(f"{detail or 'not found'}: {what}")
    if status >= 500:
        return RegistryServerError(
            f"registry {repo} answered {status} {resp.reason} for {what}"
            + (f": {detail}" if detail else "")
        )
    return RegistryError(f"registry {repo} answered {status} {resp.reason} for {what}"
                         + (f": {detail}" if detail else ""))
