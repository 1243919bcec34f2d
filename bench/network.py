"""Networking: throughput on a bridge and across an overlay, and what a network costs a start.

    python bench/network.py [-t 5] [--repeat 5] [-n 30] [--parts bridge,overlay,start]

Figures, each against a peer measured in the same run, on the same work:
  bridge    TCP throughput (iperf3, 1 stream, T s) between two containers on a
            user-defined shoal bridge network (a bridge in a namespace of its
            own, br_netfilter off there), vs between two plain network
            namespaces joined by one veth pair.                  target >= 0.8
  overlay   TCP throughput between two containers on a shoal overlay (VXLAN)
            spanning two "hosts" (network namespaces on an isolated underlay
            bridge, a NetworkService in each), vs between the two hosts
            directly over the underlay.                           target >= 0.8
  start     median of N `shoal run --rm busybox true` on the default bridge
            network vs with `--network none` (CLI, one process per run;
            target <= 1.5x), and the same through the API (create+start+wait,
            and with the removal); a user-defined network (embedded DNS) as well.

The same iperf3 binary measures both sides of a pair: it runs from the host,
entered into the namespace (`nsenter --net=...`): a container's is
/proc/<State.Pid>/ns/net. Throughput figures are medians of REPEAT runs, the
two sides of a pair alternating. The private shoald gets private names for
everything it creates (bridges' host interfaces, veths, chains, rule tag; its
bridge and sandbox namespaces are bound under its own run root); the script
removes every namespace, link, iptables rule and process it made, also on
failure (what is left is listed: host links, rules, mounts under its root —
a bridge namespace left bound — and cgroups).
Traffic goes only to addresses of namespaces it created.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import ipaddress
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Api,
    Shoald,
    busybox_tar,
    median_ms,
    rmtree,
    tempdir,
    timed,
)

from shoal.engine.config import EngineConfig
from shoal.engine.network import nsutil
from shoal.engine.network.bridge import mac_for
from shoal.engine.network.config import NetworkConfig
from shoal.engine.network.netlink import Netlink
from shoal.engine.network.service import NetworkService

TAG = secrets.token_hex(2)[:3]
CGROUP_PARENT = f"shoal-bench-net-{TAG}"
IPERF_PORT = 5201
VNI = 4711


# ---- small helpers ---------------------------------------------------------------
def sh(*cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} -> {r.returncode}: {r.stdout}{r.stderr}")
    return r


def lo_up() -> None:
    with Netlink() as nl:
        nl.set_link(nl.index("lo"), up=True)


def free_subnets(count: int) -> list[ipaddress.IPv4Network]:
    """Return COUNT private /24s that no route or address of this machine overlaps."""
    with Netlink() as nl:
        used = [r.dst for r in nl.routes() if r.dst.prefixlen > 0]
        used += [i.network for _x, i in nl.addresses()]
    out: list[ipaddress.IPv4Network] = []
    for third in range(16, 256):  # 10.237.16.0/24 ... : far from the pools and the tests' nets
        net = ipaddress.IPv4Network(f"10.237.{third}.0/24")
        if not any(net.overlaps(u) for u in used):
            out.append(net)
            if len(out) == count:
                return out
    raise RuntimeError("no free private /24 in 10.237.0.0/16")


def host_ip(net: ipaddress.IPv4Network, n: int) -> str:
    return str(net.network_address + n)


class Cleanup:
    """A stack of undo steps, run in reverse order; a failing step does not stop the others."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Callable[[], Any]]] = []

    def push(self, what: str, fn: Callable[[], Any]) -> None:
        self.steps.append((what, fn))

    def run(self) -> None:
        while self.steps:
            what, fn = self.steps.pop()
            try:
                fn()
            except Exception as exc:  # report and go on: the rest must still be undone
                print(f"cleanup: {what} failed: {exc}", file=sys.stderr)


# ---- iperf3 ----------------------------------------------------------------------
@contextlib.contextmanager
def iperf_server(netns: str, ip: str) -> Iterator[None]:
    """Run `iperf3 -s` bound to IP inside NETNS (a namespace file) until the block ends."""
    proc = subprocess.Popen(
        ["nsenter", f"--net={netns}", "iperf3", "-s", "-B", ip, "-p", str(IPERF_PORT),
         "--forceflush"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "Server listening" in line:
                break
            if not line and proc.poll() is not None:
                raise RuntimeError(f"iperf3 server in {netns} exited {proc.returncode}")
        else:
            raise RuntimeError(f"iperf3 server in {netns} did not listen")
        yield
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def iperf_gbits(client_ns: str, server_ns: str, server_ip: str, seconds: int,
                affinity: str | None = None) -> float:
    """Return the TCP throughput (Gbit/s, as received) from CLIENT_NS to SERVER_IP.

    AFFINITY ("C,S", iperf3 -A) pins the client to CPU C and the server to CPU S.
    """
    pin = ["-A", affinity] if affinity else []
    with iperf_server(server_ns, server_ip):
        r = sh("nsenter", f"--net={client_ns}", "iperf3", "-c", server_ip, "-p",
               str(IPERF_PORT), "-t", str(seconds), "-P", "1", "-J", *pin,
               timeout=seconds + 30)
    res = json.loads(r.stdout)
    return float(res["end"]["sum_received"]["bits_per_second"]) / 1e9


def paired(a: Callable[[], float], b: Callable[[], float], repeat: int) -> tuple[float, float]:
    """Run A and B alternately REPEAT times each; return their medians."""
    xs, ys = [], []
    for _ in range(repeat):
        xs.append(a())
        ys.append(b())
    return statistics.median(xs), statistics.median(ys)


# ---- the private shoald ----------------------------------------------------------
class NetShoald(Shoald):
    """A bench shoald whose bridges, veths, chains and rule tag have private names."""

    def __init__(self, root: Path, default_subnet: str) -> None:
        super().__init__(root)
        self.cgroup_parent = CGROUP_PARENT
        self.opts = {
            "default_bridge": f"b{TAG}0",
            "bridge_prefix": f"b{TAG}-",  # + 10 characters of the id: at most 15
            "veth_prefix": f"bv{TAG}",
            "chain_prefix": f"SHB{TAG.upper()}",
            "rule_tag": f"shoal-bench-{TAG}",
            "dns_forward": "false",
            "default_subnet": default_subnet,
        }

    def extra_args(self) -> list[str]:
        return [f"--network-opt={k}={v}" for k, v in self.opts.items()]


def leftovers(d: NetShoald, root: Path) -> list[str]:
    """Return what this run made and did not remove: links, rules, mounts, cgroups."""
    prefixes = (d.opts["default_bridge"], d.opts["bridge_prefix"], d.opts["veth_prefix"],
                f"sbu{TAG}")
    found = [n for n in os.listdir("/sys/class/net") if n.startswith(prefixes)]
    found += [ln for t in ("filter", "nat", "raw")
              for ln in sh("iptables-save", "-t", t).stdout.splitlines()
              if f"shoal-bench-{TAG}" in ln or d.opts["chain_prefix"] in ln]
    with open("/proc/self/mountinfo") as f:
        found += [m for ln in f if (m := ln.split()[4]).startswith(str(root))]
    found += [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}")]
    found += [str(p) for p in Path("/sys/fs/cgroup").glob(CGROUP_PARENT)]
    return found


def run_container(api: Api, network: str, cmd: list[str]) -> tuple[str, int, str]:
    """Create and start a container on NETWORK; return its id, pid and address there."""
    st, c = api.call("POST", "/containers/create",
                     {"Image": "busybox", "Cmd": cmd, "HostConfig": {"NetworkMode": network}})
    assert st == 201, (st, c)
    st, body = api.call("POST", f"/containers/{c['Id']}/start")
    assert st == 204, (st, body)
    _, info = api.call("GET", f"/containers/{c['Id']}/json")
    ip = info["NetworkSettings"]["Networks"][network]["IPAddress"]
    return c["Id"], int(info["State"]["Pid"]), ip


# ---- 1. bridge -------------------------------------------------------------------
def bench_bridge(d: NetShoald, root: Path, subnet: ipaddress.IPv4Network,
                 veth_net: ipaddress.IPv4Network, seconds: int,
                 repeat: int) -> tuple[float, float]:
    api = Api(d.sock)
    st, body = api.call("POST", "/networks/create",
                        {"Name": "benchnet", "Driver": "bridge",
                         "IPAM": {"Config": [{"Subnet": str(subnet)}]}})
    assert st == 201, (st, body)
    _, pid_a, ip_a = run_container(api, "benchnet", ["sleep", "3600"])
    _, pid_b, _ = run_container(api, "benchnet", ["sleep", "3600"])
    ns_a, ns_b = f"/proc/{pid_a}/ns/net", f"/proc/{pid_b}/ns/net"

    undo = Cleanup()
    try:
        ns1, ns2 = root / "ns" / "veth1", root / "ns" / "veth2"
        for p in (ns1, ns2):
            nsutil.create(p, setup=lo_up)
            undo.push(f"netns {p}", functools.partial(nsutil.remove, p))
        fd = os.open(ns2, os.O_RDONLY)
        try:
            with Netlink(str(ns1)) as nl:  # one RTM_NEWLINK: eth0 here, its peer in ns2
                nl.add_veth("eth0", "eth0", peer_netns_fd=fd)
        finally:
            os.close(fd)
        for i, p in enumerate((ns1, ns2), start=1):
            with Netlink(str(p)) as nl:
                idx = nl.index("eth0")
                nl.add_address(idx, ipaddress.IPv4Interface(
                    f"{host_ip(veth_net, i)}/{veth_net.prefixlen}"))
                nl.set_link(idx, up=True)
        peer_ip = host_ip(veth_net, 1)
        return paired(lambda: iperf_gbits(ns_b, ns_a, ip_a, seconds),
                      lambda: iperf_gbits(str(ns2), str(ns1), peer_ip, seconds), repeat)
    finally:
        undo.run()  # the netns hold the veth pair: it goes with them


# ---- 2. overlay ------------------------------------------------------------------
@contextlib.contextmanager
def overlay_hosts(root: Path, underlay: ipaddress.IPv4Network,
                  ov_subnet: ipaddress.IPv4Network) -> Iterator[dict[str, list[str]]]:
    """Build two hosts on an isolated underlay, an overlay and one container on each.

    Yields {"hosts": [netns], "vteps": [ip], "sandboxes": [netns], "ips": [ip]};
    everything is removed when the block ends.
    """
    br = f"sbu{TAG}"
    rule = ["FORWARD", "-i", br, "-o", br, "-m", "comment", "--comment",
            f"shoal-bench-{TAG}", "-j", "ACCEPT"]
    undo = Cleanup()
    try:
        with Netlink() as nl:
            if nl.link(br) is not None:
                raise RuntimeError(f"a link named {br} exists already")
            nl.add_bridge(br)
            undo.push(f"bridge {br}", lambda: _delete_link(br))
            br_idx = nl.index(br)
            nl.set_link(br_idx, up=True)
        # br_netfilter + a FORWARD policy of DROP would drop the underlay's frames (DESIGN §7)
        sh("iptables", "-I", *rule)
        undo.push("iptables ACCEPT rule", lambda: sh("iptables", "-D", *rule))

        hosts: list[str] = []
        vteps = [host_ip(underlay, 1), host_ip(underlay, 2)]
        for i in (1, 2):
            hp = root / "ns" / f"host{i}"
            nsutil.create(hp, setup=lo_up)
            undo.push(f"netns {hp}", functools.partial(nsutil.remove, hp))
            # the FORWARD policy dockerd leaves behind
            sh("nsenter", f"--net={hp}", "iptables", "-P", "FORWARD", "DROP")
            fd = os.open(hp, os.O_RDONLY)
            try:
                with Netlink() as nl:
                    nl.add_veth(f"{br}h{i}", "eth0", peer_netns_fd=fd)
                    undo.push(f"veth {br}h{i}", functools.partial(_delete_link, f"{br}h{i}"))
                    nl.set_link(nl.index(f"{br}h{i}"), master=br_idx, up=True)
            finally:
                os.close(fd)
            with Netlink(str(hp)) as nl:
                idx = nl.index("eth0")
                nl.add_address(idx, ipaddress.IPv4Interface(
                    f"{vteps[i - 1]}/{underlay.prefixlen}"))
                nl.set_link(idx, up=True)
            hosts.append(str(hp))

        svcs: list[NetworkService] = []
        sandboxes: list[str] = []
        ips = [host_ip(ov_subnet, 2), host_ip(ov_subnet, 3)]
        for i, ns in enumerate(hosts):
            data, run = root / f"h{i}" / "data", root / f"h{i}" / "run"
            cfg = NetworkConfig(state_root=data / "network", netns_root=run / "netns",
                                netns=ns, dns_forward=False)
            s = NetworkService(EngineConfig(data_root=data, run_root=run), cfg)
            s.start()
            undo.push(f"network service of host{i + 1}", s.teardown)
            svcs.append(s)
            s.create_overlay("ov", vni=VNI, subnet=str(ov_subnet), network_id=f"{TAG:0<64}")
            sandboxes.append(s.sandbox_create(f"{i}" * 64))
            s.connect("ov", f"{i}" * 64, f"c{i}", ip=ips[i])
        for i, s in enumerate(svcs):  # what the manager would tell each host
            j = 1 - i
            s.add_peer("ov", vteps[j])
            s.add_endpoint("ov", ips[j], mac_for(ips[j]), vteps[j], name=f"c{j}")
        yield {"hosts": hosts, "vteps": vteps, "sandboxes": sandboxes, "ips": ips}
    finally:
        undo.run()


def bench_overlay(root: Path, underlay: ipaddress.IPv4Network, ov_subnet: ipaddress.IPv4Network,
                  seconds: int, repeat: int) -> tuple[float, float]:
    with overlay_hosts(root, underlay, ov_subnet) as env:
        hosts, vteps, sbs, ips = env["hosts"], env["vteps"], env["sandboxes"], env["ips"]
        return paired(lambda: iperf_gbits(sbs[1], sbs[0], ips[0], seconds),
                      lambda: iperf_gbits(hosts[1], hosts[0], vteps[0], seconds), repeat)


def _delete_link(name: str) -> None:
    with Netlink() as nl:
        if (lk := nl.link(name)) is not None:
            nl.delete_link(lk.index)


# ---- 3. start --------------------------------------------------------------------
def bench_start(d: NetShoald, n: int) -> dict[str, float]:
    api = Api(d.sock)

    def cli(*net: str) -> Callable[[], None]:
        def run() -> None:
            d.cli("run", "--rm", *net, "busybox", "true", check=True)
        return run

    def via_api(network: str, remove: bool) -> Callable[[], None]:
        def run() -> None:
            _, c = api.call("POST", "/containers/create",
                            {"Image": "busybox", "Cmd": ["true"],
                             "HostConfig": {"NetworkMode": network}})
            st, _ = api.call("POST", f"/containers/{c['Id']}/start")
            assert st == 204, st
            _, w = api.call("POST", f"/containers/{c['Id']}/wait")
            assert w["StatusCode"] == 0, w
            if remove:
                api.call("DELETE", f"/containers/{c['Id']}")
        return run

    def clean() -> None:
        _, items = api.call("GET", "/containers/json?all=1&filters="
                            + urllib.parse.quote(json.dumps({"status": ["exited"]})))
        for c in items or []:
            api.call("DELETE", f"/containers/{c['Id']}")

    # Each group's variants run interleaved (none, bridge, user, none, ...), so a
    # burst of load from elsewhere on the machine lands on every side alike.
    groups: list[list[tuple[str, Callable[[], None]]]] = [
        [("cli_none", cli("--network", "none")), ("cli_bridge", cli()),
         ("cli_user", cli("--network", "benchnet"))],
        [("api_none", via_api("none", False)), ("api_bridge", via_api("bridge", False)),
         ("api_user", via_api("benchnet", False))],
        [("apirm_none", via_api("none", True)), ("apirm_bridge", via_api("bridge", True))],
    ]
    out: dict[str, float] = {}
    for group in groups:
        samples: dict[str, list[float]] = {key: [] for key, _ in group}
        for _, fn in group:
            fn()  # warm-up
        for _ in range(n):
            for key, fn in group:
                samples[key].extend(timed(fn, 1, warmup=0))
        clean()
        out.update({key: median_ms(v) for key, v in samples.items()})
    return out


# ---- report ----------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-t", type=int, default=5, help="seconds per iperf3 run")
    ap.add_argument("--repeat", type=int, default=5, help="iperf3 runs per figure (median)")
    ap.add_argument("-n", type=int, default=30, help="container starts per figure (median)")
    ap.add_argument("--parts", default="bridge,overlay,start")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that every finally runs
    if os.geteuid() != 0:
        raise SystemExit("bench/network.py needs root (namespaces, links, iptables)")
    for tool in ("iperf3", "nsenter", "iptables"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            raise SystemExit(f"{tool} is missing (scripts/install-deps.sh installs it)")

    root = tempdir("shoal-bench-net-")
    default_net, user_net, veth_net, underlay, ov_net = free_subnets(5)
    rows: list[tuple[str, str, str, float, float, str, str]] = []
    t0, load0 = time.time(), os.getloadavg()[0]
    d = NetShoald(root / "shoal", str(default_net))
    try:
        if parts & {"bridge", "start"}:
            d.start()
            d.cli("import", str(busybox_tar(root / "busybox.tar")), "busybox:latest",
                  check=True, capture_output=True)
        if "bridge" in parts:
            s, p = bench_bridge(d, root, user_net, veth_net, args.t, args.repeat)
            rows.append(("TCP, 2 containers on a user-defined bridge network",
                         "2 netns on a veth pair", "Gbit/s", s, p, ">= 0.8", "ge"))
        elif "start" in parts:
            Api(d.sock).call("POST", "/networks/create",
                             {"Name": "benchnet", "IPAM": {"Config": [{"Subnet": str(user_net)}]}})
        if "overlay" in parts:
            s, p = bench_overlay(root, underlay, ov_net, args.t, args.repeat)
            rows.append(("TCP, 2 containers on an overlay across 2 hosts",
                         "the 2 hosts over the underlay", "Gbit/s", s, p, ">= 0.8", "ge"))
        if "start" in parts:
            st = bench_start(d, args.n)
            rows += [
                ("start, CLI `shoal run --rm busybox true` (default bridge)",
                 "same with `--network none`", "ms", st["cli_bridge"], st["cli_none"],
                 "<= 1.5x", "le"),
                ("start, CLI, user-defined network (embedded DNS)",
                 "same with `--network none`", "ms", st["cli_user"], st["cli_none"], "", ""),
                ("start, API create+start+wait (default bridge)",
                 "same with `none`", "ms", st["api_bridge"], st["api_none"], "", ""),
                ("start, API create+start+wait, user-defined network",
                 "same with `none`", "ms", st["api_user"], st["api_none"], "", ""),
                ("start, API create+start+wait+rm (default bridge)",
                 "same with `none`", "ms", st["apirm_bridge"], st["apirm_none"], "", ""),
            ]
    finally:
        d.stop()
        left = leftovers(d, root)
        rmtree(root)
        if left:
            print(f"warning: left behind: {left}", file=sys.stderr)

    print(f"\nnetworking ({time.time() - t0:.0f}s, {os.cpu_count()} CPUs, load average "
          f"{load0:.1f} -> {os.getloadavg()[0]:.1f}; iperf3: {args.t}s, 1 stream, median of "
          f"{args.repeat} alternating runs; starts: median of {args.n})\n")
    print("| what | shoal | peer | peer figure | ratio | target | met |")
    print("|---|---:|---|---:|---:|---|---|")
    for what, peer, unit, s, p, target, kind in rows:
        ratio = s / p if p else float("nan")
        met = "" if not kind else ("yes" if (ratio >= 0.8 if kind == "ge" else ratio <= 1.5)
                                   else "**no**")
        fmt = "{:.2f} " if unit == "Gbit/s" else "{:.1f} "
        print(f"| {what} | {fmt.format(s)}{unit} | {peer} | {fmt.format(p)}{unit} | "
              f"{ratio:.3f}x | {target} | {met} |")


if __name__ == "__main__":
    main()
