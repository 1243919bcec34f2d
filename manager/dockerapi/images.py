"""Service images on create and update: registry credentials and digest pinning.

The daemon of the manager that receives `POST /services/create` or
`/services/{id}/update` does what dockerd does there:

- `X-Registry-Auth` (sent by `--with-registry-auth`) is kept in the spec as
  `task.container.pull_options.registry_auth`, so the agents pull with it. An
  update without it keeps the credentials of the current spec (or of the
  previous one with `registryAuthFrom=previous-spec`). The Docker API never
  shows them: services_to_json has no field for them.
- `NAME:TAG` is resolved to `NAME:TAG@sha256:...` on its registry (a HEAD of
  the manifest, bounded by RESOLVE_TIMEOUT, awaited without blocking the event
  loop), so every node runs the same image. When the registry cannot be asked,
  the image stays as given and the answer carries Docker's warning.

Which images are resolved (`resolveImage=` query parameter, a shoal addition;
the CLI's `--resolve-image`):

    (absent)  new or changed images that name a registry host (`host:5000/app`,
              `registry.example.com/app`), never short Docker Hub names such as
              `busybox`, which nodes may have loaded locally
    always    every image, Docker Hub ones too, even already pinned ones (by tag)
    changed   new or changed images, whatever their registry
    never     none
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from shoal.engine.errors import InvalidArgument
from shoal.engine.images import reference as refmod
from shoal.engine.images.reference import Reference
from shoal.engine.images.registry import credentials as credmod
from shoal.engine.images.registry.credentials import Credentials
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2

log = logging.getLogger(__name__)

RESOLVE_MODES = ("", "always", "changed", "never")
RESOLVE_TIMEOUT = 10.0  # seconds a create or update waits for the registry
Resolver = Callable[[str, Credentials], Awaitable[str]]


def digest_warning(image: str) -> str:
    """Return Docker's warning for an image the manager could not pin."""
    return (f"image {image} could not be accessed on a registry to record its digest. "
            f"Each node will access {image} independently, possibly leading to different "
            "nodes running different versions of the image.")


def names_registry(image: str) -> bool:
    """Tell whether IMAGE starts with a registry host (`host:port/`, `a.b/`, `localhost/`)."""
    first, sep, _ = image.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def to_resolve(image: str, mode: str, current: str = "") -> Reference | None:
    """Return the tagged reference of IMAGE to resolve under MODE, or None to leave it.

    CURRENT is the image of the service's current spec ("" on create).
    """
    ref = refmod.try_parse(image)
    if ref is None or ref.tag is None or mode == "never":
        return None  # a bad reference fails in validation; a bare digest is pinned
    if mode == "always":
        return replace(ref, digest=None)
    if ref.digest is not None or image == current:
        return None
    if mode == "" and not names_registry(image):
        return None
    return ref


def pinned(ref: Reference, digest: str) -> str:
    """Return REF with DIGEST as Docker writes it: `host:5000/app:1.0@sha256:...`."""
    return replace(ref, digest=digest).familiar()


async def pin_image(container: specs_pb2.ContainerSpec, mode: str, resolve: Resolver | None,
                    creds: Credentials, current: str = "",
                    timeout: float = RESOLVE_TIMEOUT) -> list[str]:
    """Pin CONTAINER's image to its registry digest when MODE asks; return the warnings."""
    image = container.image
    ref = to_resolve(image, mode, current) if resolve is not None else None
    if ref is None or resolve is None:
        return []
    try:
        digest = await asyncio.wait_for(resolve(str(ref), creds), timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # unreachable, refused, unknown: Docker warns and goes on
        log.warning("resolving %s: %s", image, exc)
        return [digest_warning(image)]
    container.image = pinned(ref, digest)
    return []


def registry_auth_of(header: str | None) -> str:
    """Return the X-Registry-Auth value to store ("" for none); raise InvalidArgument if bad."""
    value = (header or "").strip()
    if not value or not credmod.from_header(value):  # checks it; "{}" means none
        return ""
    return value


def keep_registry_auth(container: specs_pb2.ContainerSpec, header: str | None,
                       current: objects_pb2.Service | None, auth_from: str = "") -> None:
    """Store the request's credentials in CONTAINER, or those CURRENT had (an update).

    AUTH_FROM is `registryAuthFrom`: "spec" (default) or "previous-spec".
    """
    if auth_from not in ("", "spec", "previous-spec"):
        raise InvalidArgument(f"unknown registryAuthFrom {auth_from!r}: spec or previous-spec")
    given = registry_auth_of(header)
    if not given and current is not None:
        source = current.previous_spec if auth_from == "previous-spec" else current.spec
        given = source.task.container.pull_options.registry_auth
    if given:
        container.pull_options.registry_auth = given
    else:
        container.ClearField("pull_options")


def resolver_of(engine: Any) -> Resolver | None:
    """Return the engine's `registry.resolve_digest`, or None when it has no registry."""
    registry = getattr(engine, "registry", None)
    return getattr(registry, "resolve_digest", None)


async def prepare_service_spec(spec: specs_pb2.ServiceSpec, *, engine: Any,
                               header: str | None, query: Any,
                               current: objects_pb2.Service | None = None) -> list[str]:
    """Apply credentials and digest pinning to SPEC for a create or update request.

    QUERY is the request's query (`resolveImage`, `registryAuthFrom`);
    CURRENT the service being updated. Return the warnings for the answer.
    """
    mode = str(query.get("resolveImage", ""))
    if mode not in RESOLVE_MODES:
        raise InvalidArgument(f"invalid resolveImage {mode!r}: always, changed or never")
    container = spec.task.container
    keep_registry_auth(container, header, current, str(query.get("registryAuthFrom", "")))
    creds = credmod.from_header(container.pull_options.registry_auth or None)
    now = current.spec.task.container.image if current is not None else ""
    return await pin_image(container, mode, resolver_of(engine), creds, now)
