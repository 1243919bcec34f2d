"""Build the runtime spec of a container, and its /etc/hostname, hosts and resolv.conf."""

from __future__ import annotations

from pathlib import Path

from shoal.engine.config import EngineConfig
from shoal.engine.containers.config import DEFAULT_PATH
from shoal.engine.containers.model import Container
from shoal.engine.runtime.spec import ContainerSpec, Mount, Process, Resources
from shoal.engine.runtime.users import resolve_user

ETC_FILES = ("hostname", "hosts", "resolv.conf")


def write_etc_files(rootfs: Path, cdir: Path, contents: dict[str, str]) -> dict[str, str]:
    """Write hostname/hosts/resolv.conf in the container dir; make their mount targets exist."""
    files: dict[str, str] = {}
    for name in ETC_FILES:
        path = cdir / name
        path.write_text(contents.get(name, ""))
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
    c: Container,
    rootfs: Path,
    files: dict[str, str],
    config: EngineConfig,
    net_namespace: str = "new",
    extra_mounts: list[Mount] | None = None,
) -> ContainerSpec:
    """Return the ContainerSpec the runtime starts."""
    cfg, hc = c.Config, c.HostConfig
    process = process_for(
        rootfs, [c.Path, *c.Args], container_env(c), cfg.get("WorkingDir") or "/",
        cfg.get("User") or "", bool(cfg.get("Tty")), bool(cfg.get("OpenStdin")),
    )
    hostname = cfg.get("Hostname") or c.Id[:12]
    mounts = [
        Mount(destination=f"/etc/{name}", type="bind", source=path, options=["rbind", "rprivate"])
        for name, path in files.items()
    ]
    mounts += extra_mounts or []
    return ContainerSpec(
        id=c.Id,
        rootfs=str(rootfs),
        process=process,
        hostname="" if net_namespace == "host" else hostname,
        net_namespace=net_namespace,
        readonly_rootfs=bool(hc.get("ReadonlyRootfs")),
        mounts=mounts,
        resources=_resources(c),
        cgroup_path=f"{config.cgroup_parent.strip('/')}/{c.Id}",
        log_path=c.LogPath,
    )
