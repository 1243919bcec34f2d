"""Docker Engine API views of images: inspect, list entry, history."""

from __future__ import annotations

from typing import Any

from shoal.engine.images.model import Image, parse_time

ZERO_TIME = "0001-01-01T00:00:00Z"

# The fields Docker always shows in an image's Config (GET /images/{name}/json).
_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}


def docker_config(img: Image) -> dict[str, Any]:
    """Return the image's container config with Docker's always-present fields filled in."""
    return {**_CONFIG_DEFAULTS, **img.container_config}


def inspect_json(img: Image) -> dict[str, Any]:
    """Return the `GET /images/{name}/json` body of IMG."""
    c = img.config
    out: dict[str, Any] = {
        "Id": img.id,
        "RepoTags": list(img.repo_tags),
        "RepoDigests": list(img.repo_digests),
        "Parent": "",
        "Comment": _comment(img),
        "Created": img.created or ZERO_TIME,
        "DockerVersion": str(c.get("docker_version") or ""),
        "Author": str(c.get("author") or ""),
        "Config": docker_config(img),
        "Architecture": str(c.get("architecture") or ""),
        "Os": str(c.get("os") or ""),
        "Size": img.size,
        "GraphDriver": {"Name": "overlay", "Data": None},
        "RootFS": {"Type": "layers", "Layers": img.diff_ids},
        "Metadata": {"LastTagTime": img.last_tag_time or ZERO_TIME},
    }
    if c.get("variant"):
        out["Variant"] = c["variant"]
    if c.get("os.version"):
        out["OsVersion"] = c["os.version"]
    return out


def _comment(img: Image) -> str:
    history = img.config.get("history") or []
    return str(history[-1].get("comment") or "") if history else ""


def summary_json(img: Image) -> dict[str, Any]:
    """Return IMG's entry in `GET /images/json`."""
    return {
        "Id": img.id,
        "ParentId": "",
        "RepoTags": list(img.repo_tags),
        "RepoDigests": list(img.repo_digests),
        "Created": img.created_unix,
        "Size": img.size,
        "SharedSize": -1,
        "Labels": img.labels,
        "Containers": -1,
    }


def history_json(img: Image) -> list[dict[str, Any]]:
    """Return the `GET /images/{name}/history` body: one entry per history step, newest first."""
    history = list(img.config.get("history") or [])
    layers = list(img.layers)
    if not history:  # no history recorded: one step per layer
        history = [{"created": img.created} for _ in layers] or [{"created": img.created}]
    steps = []
    li = 0
    for h in history:
        size = 0
        if not h.get("empty_layer") and li < len(layers):
            size = layers[li].uncompressed_size
            li += 1
        steps.append(
            {
                "Id": "<missing>",
                "Created": parse_time(str(h.get("created") or "")),
                "CreatedBy": str(h.get("created_by") or ""),
                "Tags": None,
                "Size": size,
                "Comment": str(h.get("comment") or ""),
            }
        )
    steps.reverse()
    steps[0]["Id"] = img.id
    steps[0]["Tags"] = list(img.repo_tags) or None
    return steps
