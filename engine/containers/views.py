"""Project container records onto the Docker Engine API's JSON shapes."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from shoal.engine.containers.model import ZERO_TIME, Container


def parse_time(ts: str) -> float:
    """Return the unix time of an RFC 3339 (nano) timestamp; 0 for Docker's zero time."""
    if not ts or ts.startswith("0001-"):
        return 0.0
    main, _, frac = ts.rstrip("Z").partition(".")
    base = datetime.fromisoformat(main + "+00:00").timestamp()
    return base + (float("0." + frac[:9]) if frac else 0.0)


def human_duration(seconds: float) -> str:
    """Say how long SECONDS is, the way Docker's `docker ps` does."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def status_text(c: Container) -> str:
    """Return the STATUS column: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created"."""
    st, now = c.State, time.time()
    if st.Running:
        up = "Up " + human_duration(now - parse_time(st.StartedAt))
        health = (st.Health or {}).get("Status")
        if health == "starting":
            return up + " (health: starting)"
        return f"{up} ({health})" if health else up
    if st.Status == "removing":
        return "Removal In Progress"
    if st.Status == "dead":
        return "Dead"
    if st.FinishedAt == ZERO_TIME:
        return "Created"
    return f"Exited ({st.ExitCode}) {human_duration(now - parse_time(st.FinishedAt))} ago"


def command_text(c: Container) -> str:
    return " ".join([c.Path, *c.Args]).strip()


def _ports_list(ports: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, binds in (ports or {}).items():
        num, _, proto = key.partition("/")
        if not binds:
            out.append({"PrivatePort": int(num), "Type": proto or "tcp"})
        for b in binds or []:
            out.append({"IP": b.get("HostIp", ""), "PrivatePort": int(num),
                        "PublicPort": int(b.get("HostPort") or 0), "Type": proto or "tcp"})
    return out


def summary(c: Container, net: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a `GET /containers/json` entry."""
    return {
        "Id": c.Id,
        "Names": ["/" + c.Name],
        "Image": c.ImageRef,
        "ImageID": c.Image,
        "Command": command_text(c),
        "Created": int(parse_time(c.Created)),
        "Ports": _ports_list((net or {}).get("Ports") or {}),
        "Labels": c.Config.get("Labels") or {},
        "State": c.State.Status,
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.HostConfig.get("NetworkMode", "default")},
        "NetworkSettings": {"Networks": (net or {}).get("Networks") or {}},
        "Mounts": c.Mounts,
    }


def inspect(
    c: Container, files: dict[str, str], net: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the `GET /containers/{id}/json` document."""
    st = c.State
    mode = c.HostConfig.get("NetworkMode", "default")
    return {
        "Id": c.Id,
        "Created": c.Created,
        "Path": c.Path,
        "Args": c.Args,
        "State": {
            "Status": st.Status, "Running": st.Running, "Paused": st.Paused,
            "Restarting": st.Restarting, "OOMKilled": st.OOMKilled, "Dead": st.Dead,
            "Pid": st.Pid, "ExitCode": st.ExitCode, "Error": st.Error,
            "StartedAt": st.StartedAt, "FinishedAt": st.FinishedAt,
            **({"Health": st.Health} if st.Health is not None else {}),
        },
        "Image": c.Image,
        "ResolvConfPath": files.get("resolv.conf", ""),
        "HostnamePath": files.get("hostname", ""),
        "HostsPath": files.get("hosts", ""),
        "LogPath": c.LogPath,
        "Name": "/" + c.Name,
        "RestartCount": c.RestartCount,
        "Driver": c.Driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": c.ExecIDs or None,
        "HostConfig": c.HostConfig,
        "GraphDriver": {"Name": c.Driver, "Data": {"MergedDir": c.Rootfs}},
        "Mounts": c.Mounts,
        "Config": c.Config,
        "NetworkSettings": net or {
            "Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {},
            "Networks": {mode if mode != "default" else "bridge": {"NetworkID": "",
                                                                 "IPAddress": ""}},
        },
    }
