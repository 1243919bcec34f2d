"""Image records: the Image and Layer dataclasses and the media types they use."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shoal.engine.images import digest as dg

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"

INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
LAYER_TYPES = (OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, DOCKER_LAYER_GZIP, DOCKER_LAYER)

# Annotations naming an image in an OCI image layout's index.json.
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"


@dataclass
class Layer:
    """One layer of an image.

    diff_id:           sha256 of the uncompressed tar (what rootfs.diff_ids lists)
    digest:            sha256 of the blob as stored (compressed or not)
    size:              size of the stored blob in bytes
    media_type:        media type of the blob (OCI or Docker)
    uncompressed_size: size of the uncompressed tar in bytes
    """

    diff_id: str
    digest: str
    size: int
    media_type: str = OCI_LAYER
    uncompressed_size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "diff_id": self.diff_id,
            "digest": self.digest,
            "size": self.size,
            "media_type": self.media_type,
            "uncompressed_size": self.uncompressed_size,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Layer:
        return cls(
            d["diff_id"], d["digest"], int(d["size"]), d["media_type"], int(d["uncompressed_size"])
        )

    def descriptor(self) -> dict[str, Any]:
        """Return the OCI descriptor of the stored blob."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass
class Image:
    """An image: its config (the full OCI/Docker image config JSON), layers and names.

    id is "sha256:<digest of the config blob>"; repo_tags and repo_digests are
    displayed as Docker does ("busybox:latest", "busybox@sha256:...").
    """

    id: str
    config: dict[str, Any]
    layers: list[Layer] = field(default_factory=list)
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    manifest_digest: str = ""
    last_tag_time: str = ""

    @property
    def short_id(self) -> str:
        return dg.short(self.id)

    @property
    def diff_ids(self) -> list[str]:
        return [layer.diff_id for layer in self.layers]

    def chain_ids(self) -> list[str]:
        """Return the OCI chain id of each layer, bottom first."""
        return dg.chain_ids(self.diff_ids)

    @property
    def size(self) -> int:
        """Return the image's size: the sum of its uncompressed layers."""
        return sum(layer.uncompressed_size for layer in self.layers)

    @property
    def created(self) -> str:
        """Return the creation time from the config (RFC 3339), or ""."""
        return str(self.config.get("created") or "")

    @property
    def created_unix(self) -> int:
        return parse_time(self.created)

    @property
    def container_config(self) -> dict[str, Any]:
        """Return the config's "config" object (Env, Cmd, Entrypoint, ...)."""
        c = self.config.get("config")
        return c if isinstance(c, dict) else {}

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.container_config.get("Labels") or {})


def now_rfc3339() -> str:
    """Return the current UTC time in RFC 3339 with microseconds, as image configs store it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str) -> int:
    """Return the unix time of an RFC 3339 timestamp (any fraction digits); 0 if unparsable."""
    if not s:
        return 0
    t = s.strip().replace("z", "Z")
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    if "." in t:
        head, frac = t.split(".", 1)
        digits = "".join(c for c in frac if c.isdigit())
        t = head + "." + digits[:6].ljust(6, "0") + frac[len(digits) :]
    try:
        return int(datetime.fromisoformat(t).timestamp())
    except ValueError:
        return 0
