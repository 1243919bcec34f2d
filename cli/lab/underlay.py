"""The lab's kernel plumbing: the underlay bridge, its firewall rule, host namespaces.

Everything here is idempotent in the removing direction (a missing link,
rule or namespace is not an error), so `lab down` can run after a crash or
twice. Namespaces are bound under /run/netns, so `ip netns exec` works on them;
links and addresses are programmed over netlink (engine/network/netlink.py),
the firewall with iptables (the rule must be visible to the host's
administrator as an ordinary rule, tagged with a comment).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import subprocess
from pathlib import Path

from shoal.engine.network import nsutil
from shoal.engine.network.errors import NetworkSystemError
from shoal.engine.network.netlink import Netlink

from .errors import LabSystemError


def sh(*cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run CMD; raise LabSystemError with its output when it fails and CHECK is set."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabSystemError(f"{' '.join(cmd)}: {exc}") from exc
    if check and r.returncode != 0:
        raise LabSystemError(f"{' '.join(cmd)} exited {r.returncode}: "
                             f"{(r.stderr or r.stdout).strip()}")
    return r


def _lo_up() -> None:
    with Netlink() as nl:
        nl.set_link(nl.index("lo"), up=True)


def delete_link(name: str, netns: str | None = None) -> None:
    """Delete link NAME (in NETNS) if it exists."""
    with contextlib.suppress(NetworkSystemError, OSError), Netlink(netns) as nl:
        if (lk := nl.link(name)) is not None:
            nl.delete_link(lk.index)


def create_bridge(name: str, iface: str) -> None:
    """Create the underlay bridge NAME, up, with address IFACE ("10.B.0.254/24")."""
    try:
        with Netlink() as nl:
            if nl.link(name) is not None:
                raise LabSystemError(f"a link named {name} exists already "
                                     "(another lab, or a crashed one: 'shoal lab down')")
            nl.add_bridge(name)
            idx = nl.index(name)
            nl.add_address(idx, ipaddress.IPv4Interface(iface))
            nl.set_link(idx, up=True)
    except NetworkSystemError as exc:
        raise LabSystemError(f"bridge {name}: {exc}") from exc


def _forward_rule(bridge: str, tag: str) -> list[str]:
    return ["FORWARD", "-i", bridge, "-o", bridge, "-m", "comment", "--comment", tag,
            "-j", "ACCEPT"]


def add_forward_rule(bridge: str, tag: str) -> None:
    """Accept forwarding between the lab's hosts on BRIDGE.

    With br_netfilter on, bridged frames traverse the root namespace's
    FORWARD chain, whose policy dockerd leaves at DROP (DESIGN §7).
    """
    sh("iptables", "-w", "-I", *_forward_rule(bridge, tag))


def remove_forward_rules(tag: str) -> None:
    """Delete every filter rule commented TAG (none is fine)."""
    r = sh("iptables-save", "-t", "filter", check=False)
    for line in r.stdout.splitlines():
        if line.startswith("-A ") and (f'--comment "{tag}"' in line
                                       or f"--comment {tag} " in line):
            sh("iptables", "-w", "-D", *_split(line[3:]), check=False)


def _split(rule: str) -> list[str]:
    import shlex

    return shlex.split(rule)


def rules_tagged(tag: str) -> list[str]:
    """Return the filter rules commented TAG."""
    r = sh("iptables-save", "-t", "filter", check=False)
    return [ln for ln in r.stdout.splitlines()
            if f'--comment "{tag}"' in ln or f"--comment {tag} " in ln]


def create_host_ns(path: Path, veth: str, bridge: str, iface: str,
                   routes: list[tuple[str, str]]) -> None:
    """Create host namespace PATH joined to BRIDGE by VETH ("eth0" inside, address IFACE).

    ROUTES are (subnet, gateway) pairs added in the namespace: the other
    hosts' container subnets. Forwarding is on: a host routes for its containers.
    """
    try:
        nsutil.create(path, setup=_lo_up)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            with Netlink() as nl:
                nl.add_veth(veth, "eth0", peer_netns_fd=fd)
                nl.set_link(nl.index(veth), master=nl.index(bridge), up=True)
        finally:
            os.close(fd)
        with Netlink(str(path)) as nl:
            idx = nl.index("eth0")
            nl.add_address(idx, ipaddress.IPv4Interface(iface))
            nl.set_link(idx, up=True)
            for dst, gw in routes:
                nl.add_route(dst, gateway=gw)
        nsutil.sysctl_write(str(path), "net.ipv4.ip_forward", "1")
    except (NetworkSystemError, OSError) as exc:
        raise LabSystemError(f"host namespace {path}: {exc}") from exc


def remove_host_ns(path: Path, veth: str) -> None:
    """Delete the host namespace PATH and its veth (both may be gone already)."""
    delete_link(veth)
    try:
        nsutil.remove(path)
    except NetworkSystemError as exc:
        raise LabSystemError(f"host namespace {path}: {exc}") from exc


def set_cable(veth: str, up: bool) -> None:
    """Plug (UP) or unplug the host's cable: its veth end on the bridge goes up or down.

    Inside the host eth0 only loses its carrier, so its addresses and routes
    stay (as on a real host whose switch port dies) and come back with it.
    """
    try:
        with Netlink() as nl:
            nl.set_link(nl.index(veth), up=up)
    except NetworkSystemError as exc:
        raise LabSystemError(f"link {veth}: {exc}") from exc


def netns_inode(path: Path) -> int | None:
    """Return the inode of the namespace bound at PATH (None if it is not bound)."""
    if not nsutil.is_netns(path):
        return None
    return os.stat(path).st_ino
