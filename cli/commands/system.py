"""System commands: version and info."""

from __future__ import annotations

import platform

from shoal import API_VERSION, __version__

from ..errors import CLIError
from ..flags import Command, Flag
from . import parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import Context

VERSION = Command("{prog} [OPTIONS]", "Show the shoal version information", [
    Flag("format", "f", "string", "Format output using a custom template"),
], max_args=0)


def version(ctx: Context, argv: list[str]) -> int:
    """Print the client's version and the daemon's (GET /version)."""
    parsed = parse(VERSION, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    client_info = {
        "Version": __version__, "ApiVersion": API_VERSION,
        "PythonVersion": platform.python_version(),
        "Os": platform.system().lower(), "Arch": go_arch(platform.machine()),
    }
    server_error = None
    try:
        server = ctx.client.get("/version") or {}
    except CLIError as exc:
        server, server_error = None, exc
    if opts.format:
        from ..template import render

        ctx.out(render(opts.format, {"Client": client_info, "Server": server}) + "\n")
    else:
        lines = ["Client:",
                 f" Version:           {__version__}",
                 f" API version:       {API_VERSION}",
                 f" Python version:    {client_info['PythonVersion']}",
                 f" OS/Arch:           {client_info['Os']}/{client_info['Arch']}"]
        if server is not None:
            lines += ["", f"Server: {server.get('Platform', {}).get('Name') or 'shoal'}",
                      " Engine:",
                      f"  Version:          {server.get('Version', '')}",
                      f"  API version:      {server.get('ApiVersion', '')} "
                      f"(minimum version {server.get('MinAPIVersion', '')})",
                      f"  Git commit:       {server.get('GitCommit', '')}",
                      f"  Built:            {server.get('BuildTime', '')}",
                      f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}",
                      f"  Kernel version:   {server.get('KernelVersion', '')}"]
        ctx.out("\n".join(lines) + "\n")
    if server_error is not None:
        raise server_error
    return 0


def go_arch(machine: str) -> str:
    """Return an architecture as Go (and docker) names it: x86_64 -> amd64."""
    return {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}.get(
        machine, machine)


INFO = Command("{prog} [OPTIONS]", "Display system-wide information", [
    Flag("format", "f", "string", "Format output using a custom template"),
], max_args=0)


def info(ctx: Context, argv: list[str]) -> int:
    """Print what GET /info reports about the daemon and its host."""
    parsed = parse(INFO, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    doc = ctx.client.get("/info") or {}
    if opts.format:
        from ..template import render

        ctx.out(render(opts.format, doc) + "\n")
        return 0
    swarm = doc.get("Swarm") or {}
    lines = [
        "Client:",
        f" Version:    {__version__}",
        "",
        "Server:",
        f" Containers: {doc.get('Containers', 0)}",
        f"  Running: {doc.get('ContainersRunning', 0)}",
        f"  Paused: {doc.get('ContainersPaused', 0)}",
        f"  Stopped: {doc.get('ContainersStopped', 0)}",
        f" Images: {doc.get('Images', 0)}",
        f" Server Version: {doc.get('ServerVersion', '')}",
        f" Storage Driver: {doc.get('Driver', '')}",
        f" Logging Driver: {doc.get('LoggingDriver', '')}",
        f" Cgroup Driver: {doc.get('CgroupDriver', '')}",
        f" Cgroup Version: {doc.get('CgroupVersion', '')}",
        f" Swarm: {swarm.get('LocalNodeState', 'inactive')}",
        f" Kernel Version: {doc.get('KernelVersion', '')}",
        f" Operating System: {doc.get('OperatingSystem', '')}",
        f" OSType: {doc.get('OSType', '')}",
        f" Architecture: {doc.get('Architecture', '')}",
        f" CPUs: {doc.get('NCPU', 0)}",
        f" Total Memory: {_mib(doc.get('MemTotal', 0))}",
        f" Name: {doc.get('Name', '')}",
        f" ID: {doc.get('ID', '')}",
        f" Docker Root Dir: {doc.get('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(doc.get('Debug'))).lower()}",
    ]
    for warning in doc.get("Warnings") or ():
        lines.append(f"WARNING: {warning}")
    ctx.out("\n".join(lines) + "\n")
    return 0


def _mib(n: int) -> str:
    """Return a binary size like docker's info: "7.63GiB"."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    size, i = float(n), 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{units[i]}"
