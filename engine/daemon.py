"""shoald: the per-host daemon (the engine and its REST API on a UNIX socket).

Containers belong to their shims, not to shoald: stopping or killing the
daemon leaves them running, and the next daemon re-adopts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from shoal import __version__
from shoal.engine.api.app import make_app
from shoal.engine.config import EngineConfig
from shoal.engine.engine import Engine

log = logging.getLogger("shoald")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="shoald", description="shoal daemon: container engine")
    p.add_argument("--data-root", default=None, help="persistent state (default /var/lib/shoal)")
    p.add_argument("--exec-root", "--run-root", dest="run_root", default=None,
                   help="runtime state: socket, shims (default /run/shoal)")
    p.add_argument("-H", "--host", default=None,
                   help="listen address: unix:///path (default unix://<run-root>/shoal.sock)")
    p.add_argument("--cgroup-parent", default=None, help="cgroup parent (default shoal)")
    p.add_argument("-b", "--bridge", default=None,
                   help="device of the default bridge network (default shoal0)")
    p.add_argument("--network-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="network option: default_subnet, pools, mtu, dns_forward, "
                        "bridge_prefix, veth_prefix, chain_prefix, rule_tag")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                   help="registry reached over plain HTTP (repeatable; a CIDR is allowed)")
    p.add_argument("--teardown", action="store_true",
                   help="remove what a stopped daemon left in the kernel for this data/run "
                        "root (bridges, veths, firewall rules, netns, cgroup parent) and exit")
    p.add_argument("-D", "--debug", action="store_true", help="debug logging")
    p.add_argument("-v", "--version", action="version", version=f"shoald {__version__}")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> EngineConfig:
    cfg = EngineConfig.from_env()
    if args.data_root:
        cfg.data_root = Path(args.data_root)
    if args.run_root:
        cfg.run_root = Path(args.run_root)
        cfg.socket = cfg.run_root / "shoal.sock"
    if args.host:
        if not args.host.startswith("unix://"):
            raise SystemExit(f"shoald: unsupported listen address {args.host!r} (unix:// only)")
        cfg.socket = Path(args.host[len("unix://"):])
    if args.cgroup_parent:
        cfg.cgroup_parent = args.cgroup_parent
    cfg.insecure_registries.extend(args.insecure_registry)
    if args.bridge:
        cfg.extra["network.default_bridge"] = args.bridge
    for opt in args.network_opt:
        key, sep, value = opt.partition("=")
        if not sep or not key:
            raise SystemExit(f"shoald: --network-opt wants KEY=VALUE, not {opt!r}")
        cfg.extra[f"network.{key}"] = value
    return cfg


def _lock_pidfile(path: Path) -> int:
    """Hold an exclusive lock on the pid file: one daemon per run root."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SystemExit(f"shoald: another daemon holds {path}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


async def serve(cfg: EngineConfig, ready: asyncio.Event | None = None) -> None:
    """Run the engine and its API until SIGTERM/SIGINT."""
    assert cfg.socket is not None
    from shoal.engine.api.routes_swarm import CLUSTER_KEY
    from shoal.node import Node

    engine = Engine(cfg)
    await engine.start()
    node = Node(engine)
    await node.start()
    app = make_app(engine)
    app[CLUSTER_KEY] = node
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handle_signals=False)
    await runner.setup()
    with contextlib.suppress(FileNotFoundError):
        cfg.socket.unlink()
    cfg.socket.parent.mkdir(parents=True, exist_ok=True)
    old_umask = os.umask(0o077)  # the socket is root's only, like docker.sock without a group
    try:
        site = web.UnixSite(runner, str(cfg.socket))
        await site.start()
    finally:
        os.umask(old_umask)
    os.chmod(cfg.socket, 0o600)
    log.info("shoald %s listening on %s (data %s)", __version__, cfg.socket, cfg.data_root)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("shoald stopping (containers keep running)")
        await runner.cleanup()
        await node.stop()
        await engine.stop()
        with contextlib.suppress(FileNotFoundError):
            cfg.socket.unlink()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("grpc", "asyncio", "aetcd"):
        logging.getLogger(noisy).setLevel(logging.INFO)
    cfg = config_from_args(args)
    if os.geteuid() != 0:
        raise SystemExit("shoald: must run as root (namespaces, cgroups, mounts)")
    lock_fd = _lock_pidfile(cfg.run_root / "shoald.pid")
    try:
        if args.teardown:
            teardown(cfg)
        else:
            asyncio.run(serve(cfg))
    finally:
        os.close(lock_fd)


def teardown(cfg: EngineConfig) -> None:
    """Remove kernel state of a stopped daemon; refuse while containers still run."""
    from shoal.engine.network.service import NetworkService
    from shoal.engine.runtime.cgroups import CgroupManager
    from shoal.engine.runtime.runtime import Runtime

    runtime = Runtime(cfg.shims_root, spare_shims=False)
    live = [i for i in runtime.list() if runtime.state(i).status in ("running", "created")]
    if live:
        raise SystemExit(f"shoald: {len(live)} containers still run; remove them first")
    NetworkService(cfg).teardown()
    CgroupManager().destroy(cfg.cgroup_parent)


if __name__ == "__main__":
    main()
