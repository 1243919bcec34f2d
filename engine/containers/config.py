"""Turn a create request and an image config into a container's Config and HostConfig.

The merge rules are Docker's: the request's Cmd wins over the image's, an
Entrypoint in the request resets the image's Cmd, Env is merged by key, and
so on. Everything is validated here so the runtime never sees bad input.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from shoal.engine.containers import health
from shoal.engine.containers.errors import InvalidConfig

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MIN_MEMORY = 6 * 1024 * 1024

_CONFIG_KEYS = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
    "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck",
    "Image", "Volumes", "WorkingDir", "Entrypoint", "Labels", "StopSignal", "StopTimeout",
)


def _env_key(item: str) -> str:
    return item.split("=", 1)[0]


def merge_env(image_env: list[str], user_env: list[str]) -> list[str]:
    """Return IMAGE_ENV overridden key by key with USER_ENV, order kept."""
    out: dict[str, str] = {}
    for item in [*image_env, *user_env]:
        if not item or item.startswith("="):
            raise InvalidConfig(f"invalid environment variable: {item!r}")
        out[_env_key(item)] = item
    return list(out.values())


def _as_list(value: Any, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InvalidConfig(f"{field} must be a string or a list of strings, not {value!r}")


def merge_config(image_cfg: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Return the container's Config: the request's fields over the image's."""
    cfg: dict[str, Any] = {k: body.get(k) for k in _CONFIG_KEYS}
    img = image_cfg or {}
    cmd = _as_list(cfg["Cmd"], "Cmd")
    entrypoint = _as_list(cfg["Entrypoint"], "Entrypoint")
    if entrypoint == [""]:
        entrypoint = []  # `--entrypoint ""` resets the image's entrypoint
    if not entrypoint:
        if not cmd:
            cmd = img.get("Cmd")
        if entrypoint is None:
            entrypoint = img.get("Entrypoint")
    cfg["Cmd"], cfg["Entrypoint"] = cmd or None, entrypoint or None
    cfg["Env"] = merge_env(img.get("Env") or [], body.get("Env") or [])
    for key in ("WorkingDir", "User", "StopSignal"):
        cfg[key] = cfg.get(key) or img.get(key) or ""
    cfg["Healthcheck"] = health.merge(img.get("Healthcheck"), cfg.get("Healthcheck"))
    cfg["Labels"] = {**(img.get("Labels") or {}), **(body.get("Labels") or {})}
    cfg["ExposedPorts"] = {**(img.get("ExposedPorts") or {}), **(body.get("ExposedPorts") or {})}
    cfg["Volumes"] = {**(img.get("Volumes") or {}), **(body.get("Volumes") or {})} or None
    for key in ("Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout", "AttachStderr"):
        cfg[key] = bool(cfg.get(key))
    if not cfg["Cmd"] and not cfg["Entrypoint"]:
        raise InvalidConfig("No command specified")
    if cfg["WorkingDir"] and not cfg["WorkingDir"].startswith("/"):
        raise InvalidConfig(
            f"the working directory '{cfg['WorkingDir']}' is invalid, "
            "it needs to be an absolute path"
        )
    if cfg["StopSignal"]:
        parse_signal(cfg["StopSignal"])
    if cfg.get("StopTimeout") is not None and not isinstance(cfg["StopTimeout"], int):
        raise InvalidConfig(f"StopTimeout must be an integer, not {cfg['StopTimeout']!r}")
    return cfg


def parse_signal(value: str | int) -> int:
    """Return the number of a signal given as 9, "9", "KILL" or "SIGKILL"."""
    text = str(value).strip().upper()
    if text.isdigit():
        num = int(text)
        if 0 < num < 65:
            return num
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        sig = getattr(signal.Signals, name, None) if name in signal.Signals.__members__ else None
        if sig is not None:
            return int(sig)
    raise InvalidConfig(f"Invalid signal: {value}")


def validate_host_config(hc: dict[str, Any] | None) -> dict[str, Any]:
    """Check the resource and network fields of HostConfig; return a normalised copy."""
    hc = dict(hc or {})
    for key in ("Memory", "NanoCpus", "CpuQuota", "CpuPeriod", "CpuShares", "PidsLimit"):
        v = hc.get(key)
        if v is not None and not isinstance(v, int):
            raise InvalidConfig(f"HostConfig.{key} must be an integer, not {v!r}")
    mem = hc.get("Memory") or 0
    if mem < 0:
        raise InvalidConfig(f"invalid memory limit {mem}: must not be negative")
    if 0 < mem < MIN_MEMORY:
        raise InvalidConfig("Minimum memory limit allowed is 6MB")
    ncpu = os.cpu_count() or 1
    nano = hc.get("NanoCpus") or 0
    if nano < 0 or nano > ncpu * 1_000_000_000:
        raise InvalidConfig(
            f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )
    if nano and hc.get("CpuQuota"):
        raise InvalidConfig("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if (hc.get("CpuShares") or 0) < 0:
        raise InvalidConfig("invalid CPU shares: must not be negative")
    mode = hc.get("NetworkMode") or "default"
    if not isinstance(mode, str) or mode.startswith("container:"):
        raise InvalidConfig(f"unsupported network mode {mode!r}")
    hc["NetworkMode"] = mode
    hc.setdefault("AutoRemove", False)
    hc.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    hc.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
    return hc
