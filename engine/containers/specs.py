"""Build the runtime spec of a container, and its /etc/hostname, hosts and resolv.conf."""

from __future__ import annotations

import os
from pathlib import Path

from shoal.engine.config import EngineConfig
from shoal.engine.containers.config import DEFAULT_PATH
from shoal.engine.containers.model import Container
from shoal.engine.runtime.spec import ContainerSpec, Mount, Process, Resources
from shoal.engine.runtime.users import resolve_user

_LOCALHOST = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
ETC_FILES = ("hostname", "hosts", "resolv.conf")


def _host_resolv_conf() -> str:
    """Return the host's resolv.conf without loopback resolvers (unreachable from a netns)."""
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        return ""
    keep = [
        ln for ln in lines
        if not (ln.startswith("nameserver") and (" 127." in ln or " ::1" in ln))
    ]
    return "\n".join(keep) + "\n"


def write_etc_files(c: Container, rootfs: Path, cdir: Path) -> dict[str, str]:
    """Write hostname/hosts/resolv.conf in the container dir; make the mount targets exist."""
    hostname = c.Config.get("Hostname") or c.Id[:12]
    host_net = c.HostConfig.get("NetworkMode") == "host"
    if host_net:
        hosts = Path("/etc/hosts").read_text() if os.path.exists("/etc/hosts") else _LOCALHOST
        hostname = os.uname().nodename
    else:
        hosts = _LOCALHOST
    contents = {
        "hostname": hostname + "\n",
        "hosts": hosts,
        "resolv.conf": _host_resolv_conf(),
    }
    files: dict[str, str] = {}
    for name, text in contents.items():
        path = cdir / name
        path.write_text(text)
        files[name] = str(path)
        target = rootfs / "etc" / name
        if not target.exists() and not target.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
    return files


def _resources(c: Container) -> Resources:
    hc = c.HostConfig
    quota = hc.get("CpuQuota") or None
    period = hc.get("CpuPeriod") or 100_000
    if hc.get("NanoCpus"):
        quota = hc["NanoCpus"] * period // 1_000_000_000
    pids = hc.get("PidsLimit")
    return Resources(
        memory=hc.get("Memory") or None,
        cpu_quota=quota,
        cpu_period=period,
        cpu_shares=hc.get("CpuShares") or None,
        pids_limit=pids if pids and pids > 0 else None,
    )


def container_env(c: Container) -> list[str]:
    """Return the process env: Docker adds PATH, HOSTNAME and (with a tty) TERM."""
    env = list(c.Config.get("Env") or [])
    keys = {e.split("=", 1)[0] for e in env}
    extra = [f"HOSTNAME={c.Config.get('Hostname') or c.Id[:12]}"]
    if "PATH" not in keys:
        extra.insert(0, f"PATH={DEFAULT_PATH}")
    if c.Config.get("Tty") and "TERM" not in keys:
        extra.append("TERM=xterm")
    return [*extra, *[e for e in env if not e.startswith("HOSTNAME=")]]


def process_for(
    rootfs: Path, args: list[str], env: list[str], cwd: str, user: str, tty: bool, stdin: bool
) -> Process:
    """Return a runtime Process with USER resolved against the container's passwd/group."""
    uid, gid, groups = resolve_user(rootfs, user or "")
    return Process(
        args=args, env=env, cwd=cwd or "/", uid=uid, gid=gid, additional_gids=groups,
        tty=tty, stdin=stdin,
    )


def build_spec(
    c: Container, rootfs: Path, files: dict[str, str], config: EngineConfig
) -> ContainerSpec:
    """Return the ContainerSpec the runtime starts."""
    cfg, hc = c.Config, c.HostConfig
    process = process_for(
        rootfs, [c.Path, *c.Args], container_env(c), cfg.get("WorkingDir") or "/",
        cfg.get("User") or "", bool(cfg.get("Tty")), bool(cfg.get("OpenStdin")),
    )
    hostname = cfg.get("Hostname") or c.Id[:12]
    mode = hc.get("NetworkMode") or "default"
    mounts = [
        Mount(destination=f"/etc/{name}", type="bind", source=path, options=["rbind", "rprivate"])
        for name, path in files.items()
    ]
    return ContainerSpec(
        id=c.Id,
        rootfs=str(rootfs),
        process=process,
        hostname="" if mode == "host" else hostname,
        net_namespace="host" if mode == "host" else "new",
        readonly_rootfs=bool(hc.get("ReadonlyRootfs")),
        mounts=mounts,
        resources=_resources(c),
        cgroup_path=f"{config.cgroup_parent.strip('/')}/{c.Id}",
        log_path=c.LogPath,
    )
