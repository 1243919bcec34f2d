"""Docker image references: parse, normalise and display.

Internally a reference is fully qualified (`docker.io/library/busybox:latest`);
it is displayed the way Docker shows it (`busybox:latest`). The grammar is the
one of github.com/distribution/reference:

    reference := name [":" tag] ["@" digest]
    name      := [domain "/"] path-component ["/" path-component]*
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from shoal.engine.images.errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
TAG_RE = re.compile(rf"^{_TAG}$")
DIGEST_RE = re.compile(rf"^{_DIGEST}$")
_HEX64 = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True)
class Reference:
    """A normalised image reference: domain, path and a tag and/or a digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Return the fully qualified repository name (docker.io/library/busybox)."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """Return the repository name as Docker displays it (busybox, user/app, host:5000/x)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_PREFIX) and "/" not in self.path[len(OFFICIAL_PREFIX) :]:
            return self.path[len(OFFICIAL_PREFIX) :]
        return self.path

    def _suffix(self) -> str:
        s = f":{self.tag}" if self.tag is not None else ""
        return s + (f"@{self.digest}" if self.digest is not None else "")

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """Return the reference as Docker displays it (busybox:latest, x/y@sha256:...)."""
        return self.familiar_name + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> Reference:
        return replace(self, tag=None, digest=digest)

    def name_only(self) -> bool:
        return self.tag is None and self.digest is None


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    first = name[:i]
    if i == -1 or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, rest = DEFAULT_DOMAIN, name
    else:
        domain, rest = first, name[i + 1 :]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = OFFICIAL_PREFIX + rest
    return domain, rest


def parse(ref: str, default_tag: bool = True) -> Reference:
    """Parse and normalise a Docker reference; add the "latest" tag to a bare name.

    Raise InvalidReference saying what is wrong.
    """
    if not isinstance(ref, str) or not ref:
        raise InvalidReference("invalid reference format: empty reference")
    if _HEX64.match(ref):
        raise InvalidReference(
            f"invalid repository name ({ref}), cannot specify 64-byte hexadecimal strings"
        )
    rest, digest = ref, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not DIGEST_RE.match(digest):
            raise InvalidReference(f"invalid reference format: bad digest in {ref!r}")
        if digest.startswith("sha256:") and not _HEX64.match(digest[7:]):
            raise InvalidReference(f"invalid reference format: bad sha256 digest in {ref!r}")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not TAG_RE.match(tag):
            raise InvalidReference(f"invalid reference format: bad tag {tag!r} in {ref!r}")
    if not rest:
        raise InvalidReference(f"invalid reference format: no repository name in {ref!r}")
    domain, path = _split_domain(rest)
    if path.lower() != path:
        raise InvalidReference(
            f"invalid reference format: repository name ({path}) must be lowercase"
        )
    if not DOMAIN_RE.match(domain):
        raise InvalidReference(f"invalid reference format: bad registry host {domain!r} in {ref!r}")
    if not PATH_RE.match(path):
        raise InvalidReference(f"invalid reference format: bad repository name {rest!r}")
    if len(domain) + 1 + len(path) > NAME_MAX:
        raise InvalidReference(
            f"invalid reference format: repository name must not be more than {NAME_MAX} characters"
        )
    out = Reference(domain, path, tag, digest)
    if default_tag and out.name_only():
        out = out.with_tag(DEFAULT_TAG)
    return out


def is_valid_tag(tag: str) -> bool:
    """Tell whether TAG is a valid tag (without a repository)."""
    return bool(TAG_RE.match(tag))


def try_parse(ref: str, default_tag: bool = True) -> Reference | None:
    """Return the parsed reference, or None if REF is not a valid reference."""
    try:
        return parse(ref, default_tag)
    except InvalidReference:
        return None
