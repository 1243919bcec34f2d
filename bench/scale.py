"""Cluster scale: 1,000 agents, one manager, a service of 10,000 replicas.

    python bench/scale.py [--agents 1000] [--replicas 10000] [--no-tls]

Three processes besides etcd (manager/etcd.py):
  manager  the store (watch cache), the dispatcher on a grpc.aio server with
           mTLS (manager/ca), and the orchestrator + scheduler (see HARNESS)
  agents   N real Agents in one asyncio loop, each with its own node
           certificate and channel, speaking the real Dispatcher protocol,
           running tasks with the fake executor (states without containers)
  this     creates the service, watches the tasks through its own store
           cache, and reports
Prints: time from service creation to all tasks RUNNING, placements per
second (tasks ASSIGNED / time), the manager's RSS (now and peak), and the
etcd requests the run cost (from etcd's /metrics).
Targets on a 2-core machine: <= 20 s to all RUNNING, >= 1,000 placements/s,
manager RSS <= 1 GiB.

Knobs (environment): SCALE_ASSIGN_BATCH (the dispatcher's
assignment_batch_interval, 0.02 s), SCALE_REPORT (the agents' report_interval,
0.1 s), SCALE_PROFILE=FILE (cProfile the manager process into FILE).

HARNESS: manager/manager.py is not there yet, so the manager process
assembles the parts: Store, Dispatcher on a grpc.aio server with mTLS
(manager/ca), and the leader loops ReplicatedOrchestrator, Scheduler and
TaskReaper (no election: it is the only manager). The service is written to
the store directly (no Control API call).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import rmtree, tempdir

ROOT = "/bench"
SERVICE_NAME = "scale"


# ---- shared helpers -------------------------------------------------------------


def _issue(root: Any, cluster_id: str, node_id: str, role: int) -> Any:
    from shoal.manager.ca import NodeCredentials
    from shoal.manager.ca.certs import generate_key, make_csr

    key = generate_key()
    cert = root.issue(make_csr(key, node_id), node_id=node_id, role=role,
                      cluster_id=cluster_id, addresses=["127.0.0.1"])
    return NodeCredentials(node_id, role, key, cert, root.cert_pem)


async def _open_store(endpoint: str) -> Any:
    from shoal.manager.etcd import connect
    from shoal.manager.store import Store, StoreConfig

    client = connect([endpoint])
    await client.connect()
    store = Store(client, StoreConfig(root=ROOT))
    await store.start()
    return store


def rss_kib(pid: int) -> tuple[int, int]:
    """Return (VmRSS, VmHWM) of PID in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time PID has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def etcd_metrics(endpoint: str) -> dict[str, float]:
    """Return the counters the report uses from etcd's /metrics."""
    text = urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {"proposals": 0.0, "grpc": 0.0, "txn": 0.0, "range": 0.0}
    for line in text.splitlines():
        if line.startswith("etcd_server_proposals_committed_total "):
            out["proposals"] = float(line.split()[-1])
        elif line.startswith("grpc_server_handled_total{"):
            value = float(line.split()[-1])
            out["grpc"] += value
            m = re.search(r'grpc_method="(\w+)"', line)
            if m and m.group(1) == "Txn":
                out["txn"] += value
            elif m and m.group(1) == "Range":
                out["range"] += value
    return out


# ---- manager process ------------------------------------------------------------


async def run_manager(args: argparse.Namespace) -> None:
    import grpc

    from shoal.manager.ca import AuthInterceptor, RootCA, add_ports, ensure_cluster
    from shoal.manager.dispatcher import (
        SERVER_OPTIONS,
        Dispatcher,
        DispatcherConfig,
        add_to_server,
        metadata_identity,
        tls_identity,
    )
    from shoal.proto.shoal.v1.types_pb2 import MANAGER

    store = await _open_store(args.etcd)
    cluster = await ensure_cluster(store)
    dispatcher = Dispatcher(store, DispatcherConfig(
        assignment_batch_interval=float(os.environ.get("SCALE_ASSIGN_BATCH", "0.02"))))
    await dispatcher.start()
    certs = Path(args.certs)
    if args.tls:
        root = RootCA.from_proto(cluster.root_ca)
        (certs / "ca.key").write_bytes(root.key_pem)
        (certs / "ca.crt").write_bytes(root.cert_pem)
        (certs / "cluster").write_text(cluster.id)
        server = grpc.aio.server(interceptors=[AuthInterceptor(cluster.id)],
                                 options=SERVER_OPTIONS)
        add_to_server(server, dispatcher, tls_identity)
        port, _ = add_ports(server, "127.0.0.1:0",
                            _issue(root, cluster.id, "manager-1", MANAGER), "127.0.0.1:0")
    else:
        server = grpc.aio.server(options=SERVER_OPTIONS)
        add_to_server(server, dispatcher, metadata_identity)
        port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    from shoal.manager.orchestrator import ReplicatedOrchestrator, TaskReaper
    from shoal.manager.scheduler import Scheduler

    loops = [asyncio.create_task(c.run())
             for c in (ReplicatedOrchestrator(store), Scheduler(store), TaskReaper(store))]
    print(f"READY {port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print("STATS " + json.dumps(dispatcher.stats()), flush=True)
    for loop in loops:
        loop.cancel()
    await server.stop(1)
    await dispatcher.stop()
    await store.stop()


# ---- agents process ---------------------------------------------------------------


async def run_agents(args: argparse.Namespace) -> None:
    from shoal.agent import Agent, AgentConfig
    from shoal.agent.exec.fake import FakeExecutor
    from shoal.manager.ca import RootCA
    from shoal.manager.ca.tls import channel_credentials
    from shoal.proto.shoal.v1.types_pb2 import WORKER

    certs = Path(args.certs)
    root = cluster_id = None
    if args.tls:
        root = RootCA(cert_pem=(certs / "ca.crt").read_bytes(),
                      key_pem=(certs / "ca.key").read_bytes())
        cluster_id = (certs / "cluster").read_text()
    agents = []
    for i in range(args.agents):
        node_id = f"node{i:05d}"
        creds = None
        if root is not None:
            creds = channel_credentials(_issue(root, str(cluster_id), node_id, WORKER))
        cfg = AgentConfig(node_id=node_id, hostname=f"sim-{i:05d}", labels={"rack": str(i % 10)},
                          report_interval=float(os.environ.get("SCALE_REPORT", "0.1")),
                          backoff_max=2.0)
        agents.append(Agent(cfg, FakeExecutor(hostname=f"sim-{i:05d}"), creds, [args.manager]))
    for a in agents:
        await a.start()
    await asyncio.gather(*(a.connected.wait() for a in agents))
    print(f"CONNECTED {len(agents)}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await asyncio.gather(*(a.stop() for a in agents))


# ---- driver -------------------------------------------------------------------------


def _spawn(role: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--role", role, *extra],
                            stdout=subprocess.PIPE, text=True)


def _expect(proc: subprocess.Popen[str], word: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{word}: child exited with {proc.wait()}")
        if line.startswith(word):
            return line.split(maxsplit=1)[1].strip()
    raise RuntimeError(f"no {word} within {timeout}s")


def _stop(proc: subprocess.Popen[str] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def drive(
    args: argparse.Namespace, etcd_endpoint: str, pids: dict[str, int]
) -> dict[str, Any]:
    from shoal.manager.store import Create
    from shoal.proto.shoal.v1.objects_pb2 import Node, NodeStatus, Service, Task
    from shoal.proto.shoal.v1.types_pb2 import TaskState

    store = await _open_store(etcd_endpoint)
    try:
        while sum(n.status.state == NodeStatus.READY
                  for n in store.list(Node, copy=False)) < args.agents:
            await asyncio.sleep(0.1)
        before = etcd_metrics(etcd_endpoint)
        cpu_before = {k: cpu_seconds(p) for k, p in pids.items()}
        svc = Service()
        svc.spec.annotations.name = SERVICE_NAME
        svc.spec.replicated.replicas = args.replicas
        svc.spec.task.container.image = "busybox:latest"
        svc.spec.task.container.args.extend(["sleep", "infinity"])
        svc.spec_version.index = 1
        states: dict[str, int] = {}
        assigned_at = running_at = 0.0
        with store.subscribe(Task) as sub:
            t0 = time.monotonic()
            await store.batch([Create(svc)])
            assigned = running = 0
            while running < args.replicas:
                ev = await sub.get(timeout=args.timeout)
                if ev is None:
                    raise RuntimeError(f"stalled: {assigned} assigned, {running} running")
                t: Any = ev.obj
                old = states.get(t.id, 0)
                new = t.status.state
                states[t.id] = new
                if old < TaskState.ASSIGNED <= new:
                    assigned += 1
                    if assigned == args.replicas:
                        assigned_at = time.monotonic() - t0
                if old < TaskState.RUNNING <= new:
                    running += 1
            running_at = time.monotonic() - t0
        after = etcd_metrics(etcd_endpoint)
        cpu = {f"cpu_s_{k}": round(cpu_seconds(p) - cpu_before[k], 1) for k, p in pids.items()}
        rss, hwm = rss_kib(pids["manager"])
        return {
            "agents": args.agents,
            "replicas": args.replicas,
            "tls": args.tls,
            "all_assigned_s": round(assigned_at, 2),
            "all_running_s": round(running_at, 2),
            "placements_per_s": round(args.replicas / assigned_at),
            "running_per_s": round(args.replicas / running_at),
            "manager_rss_mib": round(rss / 1024),
            "manager_peak_rss_mib": round(hwm / 1024),
            "etcd_proposals": int(after["proposals"] - before["proposals"]),
            "etcd_grpc_requests": int(after["grpc"] - before["grpc"]),
            "etcd_txn": int(after["txn"] - before["txn"]),
            "etcd_range": int(after["range"] - before["range"]),
            **cpu,
        }
    finally:
        await store.stop()
        await store.client.close()


async def run_bench(args: argparse.Namespace) -> None:
    from shoal.manager.etcd import EtcdConfig, EtcdProcess

    base = tempdir("shoal-scale-")
    etcd = EtcdProcess(EtcdConfig(data_dir=base / "etcd"))
    manager = agents = None
    try:
        await etcd.start()
        certs = base / "certs"
        certs.mkdir()
        tls = [] if args.tls else ["--no-tls"]
        manager = _spawn("manager", "--etcd", etcd.endpoint, "--certs", str(certs), *tls)
        port = _expect(manager, "READY", 60)
        t = time.monotonic()
        agents = _spawn("agents", "--agents", str(args.agents), "--manager",
                        f"127.0.0.1:{port}", "--certs", str(certs), *tls)
        _expect(agents, "CONNECTED", 300)
        connect_s = time.monotonic() - t
        pids = {"manager": manager.pid, "agents": agents.pid, "etcd": etcd.pid or 0,
                "bench": os.getpid()}
        result = await drive(args, etcd.endpoint, pids)
        result["agents_connected_s"] = round(connect_s, 2)
        print(json.dumps(result, indent=1))
        ok = (result["all_running_s"] <= 20 and result["placements_per_s"] >= 1000
              and result["manager_peak_rss_mib"] <= 1024)
        print(f"time to all RUNNING {result['all_running_s']} s (target <= 20), "
              f"placements {result['placements_per_s']}/s (target >= 1000), "
              f"manager RSS {result['manager_rss_mib']} MiB, peak "
              f"{result['manager_peak_rss_mib']} MiB (target <= 1024): "
              f"{'OK' if ok else 'MISSED'}")
    finally:
        _stop(agents)
        if manager is not None and manager.poll() is None:
            manager.send_signal(signal.SIGTERM)
            with contextlib.suppress(RuntimeError):
                print("dispatcher:", _expect(manager, "STATS", 20))
        _stop(manager)
        await etcd.stop()
        rmtree(base)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", choices=["bench", "manager", "agents"], default="bench")
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--replicas", type=int, default=10000)
    p.add_argument("--no-tls", dest="tls", action="store_false")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds without progress")
    p.add_argument("--etcd", default="")
    p.add_argument("--manager", default="")
    p.add_argument("--certs", default="")
    args = p.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        if args.role == "manager" and os.environ.get("SCALE_PROFILE"):
            import cProfile

            cProfile.runctx("asyncio.run(run_manager(args))", globals(), {"args": args},
                            os.environ["SCALE_PROFILE"])
        elif args.role == "manager":
            asyncio.run(run_manager(args))
        elif args.role == "agents":
            asyncio.run(run_agents(args))
        else:
            asyncio.run(run_bench(args))


if __name__ == "__main__":
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    main()
