"""The Python API of lab clusters: `Lab.up`, `Lab.open`, `down`, and each host's controls.

    lab = Lab.up("t1", nodes=3, managers=1)
    lab.host("t1-2").cli("info")          # shoal --host t1-2 info
    lab.host("t1-3").kill()               # power loss: every process, cable cut
    lab.host("t1-3").start()              # boot: wipe volatile state, cable back, shoald
    lab.down()

`up` writes the state file before it makes anything, so `down` (also
`Lab.down_named`, for a lab whose `up` crashed) always knows what to remove.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import hosts as hostops
from . import subnets, swarm, underlay
from .errors import LabExists, LabNotFound, LabSystemError
from .labhost import LabHost
from .leftovers import leftovers
from .model import (
    NETNS_DIR,
    REGISTRY_INDEX,
    HostState,
    LabState,
    bridge_name,
    cgroup_parent,
    check_counts,
    check_name,
    host_name,
    lab_root,
    list_labs,
    load_lab,
    netns_name,
    rule_tag,
    veth_name,
)
from .procs import signal_pids

Say = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


@contextlib.contextmanager
def _root_lock(root: Path) -> Iterator[None]:
    """Serialise address planning between concurrent `lab up`s."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _refuse_taken_names(st: LabState) -> None:
    """Refuse a plan whose bridge, veths or namespaces exist (down would remove them)."""
    links = set(os.listdir("/sys/class/net"))
    taken = [n for n in [st.bridge, *(h.veth for h in st.all_hosts())] if n in links]
    taken += [h.netns for h in st.all_hosts() if os.path.exists(h.netns)]
    if taken:
        raise LabExists(f"lab {st.name}: {', '.join(taken)} exist(s) already; another lab "
                        f"root's lab of that name, or someone else's (nothing was made)")


class Lab:
    """A lab cluster on this machine: hosts in network namespaces on one underlay bridge."""

    def __init__(self, state: LabState) -> None:
        self.state = state

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def hosts(self) -> list[LabHost]:
        """Return the cluster hosts (managers first), without the registry."""
        return [LabHost(self, h) for h in self.state.hosts]

    @property
    def managers(self) -> list[LabHost]:
        return [h for h in self.hosts if h.role == "manager"]

    @property
    def workers(self) -> list[LabHost]:
        return [h for h in self.hosts if h.role == "worker"]

    @property
    def registry(self) -> LabHost | None:
        return LabHost(self, self.state.registry) if self.state.registry else None

    @property
    def registry_addr(self) -> str:
        """Return HOST:PORT of the lab's registry on the underlay ("" without one)."""
        return self.state.registry_addr

    def host(self, name: str) -> LabHost:
        """Return host NAME ("t1-2", or its index "2"; "t1-registry" or "r")."""
        return LabHost(self, self.state.host(name))

    def save(self) -> None:
        self.state.save()

    def status(self) -> str:
        """Return running (every daemon up), degraded (some) or stopped (none)."""
        up = [hostops.running(h) for h in self.state.all_hosts()]
        return "running" if up and all(up) else "degraded" if any(up) else "stopped"

    # ---- up ----------------------------------------------------------------------
    @classmethod
    def plan(cls, name: str, nodes: int, managers: int, registry: bool,
             root: Path, avoid: list[ipaddress.IPv4Network]) -> LabState:
        """Return the state of a lab to make (names, addresses, directories); make nothing."""
        check_name(name)
        check_counts(nodes, managers)
        block = subnets.pick_block(avoid)
        d = root / name
        st = LabState(name=name, dir=str(d), block=str(block),
                      underlay=str(subnets.underlay(block)), bridge=bridge_name(name),
                      bridge_addr=subnets.bridge_addr(block), rule_tag=rule_tag(name),
                      managers=managers)
        for i in range(1, nodes + 1):
            st.hosts.append(HostState(
                name=host_name(name, i), index=str(i),
                role="manager" if i <= managers else "worker",
                addr=subnets.host_addr(block, i), netns=str(NETNS_DIR / netns_name(name, i)),
                veth=veth_name(name, i), dir=str(d / "hosts" / str(i)),
                cgroup_parent=cgroup_parent(name, i),
                bridge_subnet=subnets.host_bridge_subnet(block, i)))
        if registry:
            r = REGISTRY_INDEX
            st.registry = HostState(
                name=host_name(name, r), index=r, role="registry",
                addr=subnets.registry_addr(block), netns=str(NETNS_DIR / netns_name(name, r)),
                veth=veth_name(name, r), dir=str(d / "hosts" / "registry"),
                cgroup_parent=cgroup_parent(name, r))
        return st

    @classmethod
    def up(cls, name: str, nodes: int = 3, managers: int = 1, registry: bool = False,
           root: Path | None = None, timeout: float = 120, say: Say = _quiet) -> Lab:
        """Create lab NAME, start its daemons, form its cluster; undo everything on failure."""
        base = root or lab_root()
        with _root_lock(base):
            if (base / name / "state.json").exists():
                raise LabExists(f"lab {name!r} exists already (shoal lab down {name})")
            avoid = subnets.used_networks()
            avoid += [ipaddress.IPv4Network(s.block) for s in list_labs(base)]
            state = cls.plan(name, nodes, managers, registry, base, avoid)
            _refuse_taken_names(state)
            state.save()
        lab = cls(state)
        try:
            lab._make(say, timeout)
        except BaseException:
            say(f"lab {name}: setting up failed; removing what was made")
            with contextlib.suppress(Exception):
                lab.down()
            raise
        return lab

    def _make(self, say: Say, timeout: float) -> None:
        st = self.state
        t0 = time.monotonic()
        underlay.create_bridge(st.bridge, f"{st.bridge_addr}/24")
        underlay.add_forward_rule(st.bridge, st.rule_tag)
        for h in st.all_hosts():
            underlay.create_host_ns(Path(h.netns), h.veth, st.bridge, f"{h.addr}/24",
                                    self._routes(h))
        say(f"underlay {st.bridge} {st.underlay}: {len(st.all_hosts())} hosts "
            f"({time.monotonic() - t0:.1f}s)")
        if st.registry is not None:
            hostops.start_registry(st.registry)
            self.save()
        for h in st.hosts:
            hostops.start_shoald(h, st.registry_addr)
        self.save()
        for h in st.hosts:
            hostops.wait_ping(h, timeout)
        say(f"daemons answer ({time.monotonic() - t0:.1f}s)")
        ms = [h for h in st.hosts if h.role == "manager"]
        ws = [h for h in st.hosts if h.role == "worker"]
        swarm.form(ms, ws, timeout)
        say(f"cluster of {len(st.hosts)} nodes Ready ({time.monotonic() - t0:.1f}s)")

    def _routes(self, h: HostState) -> list[tuple[str, str]]:
        """Return the routes to the other hosts' container subnets, via their addresses."""
        return [(o.bridge_subnet, o.addr) for o in self.state.hosts
                if o is not h and o.bridge_subnet]

    def reboot(self, h: HostState) -> None:
        """Give host H a fresh kernel state: its mounts, cgroups and namespace (data kept)."""
        hostops.teardown(h)
        underlay.remove_host_ns(Path(h.netns), h.veth)
        shutil.rmtree(h.run_root, ignore_errors=True)
        underlay.create_host_ns(Path(h.netns), h.veth, self.state.bridge, f"{h.addr}/24",
                                self._routes(h))
        if h.cut:
            underlay.set_cable(h.veth, up=False)

    # ---- down --------------------------------------------------------------------
    def down(self, keep: bool = False, say: Say = _quiet) -> list[str]:
        """Remove everything of the lab; return the problems met (empty when all went).

        Idempotent: every step tolerates what an earlier run or a crash removed.
        KEEP leaves the lab directory (data roots, logs) and drops only state.json.
        """
        st = self.state
        problems: list[str] = []
        everyone = st.all_hosts()
        for h in everyone:  # SIGTERM to all first: they stop in parallel
            if hostops.running(h):
                signal_pids([h.pid], signal.SIGTERM)
        for h in everyone:
            try:
                hostops.stop(h)
            except OSError as exc:
                problems.append(f"{h.name}: stopping: {exc}")
        for h in everyone:
            problems += hostops.teardown(h)
            try:
                underlay.remove_host_ns(Path(h.netns), h.veth)
            except LabSystemError as exc:
                problems.append(str(exc))
        underlay.delete_link(st.bridge)
        underlay.remove_forward_rules(st.rule_tag)
        problems += hostops.unmount_under(st.dir)
        problems += [f"left behind: {x}" for x in leftovers(st)]
        say(f"lab {st.name}: removed {len(st.hosts)} hosts"
            + (" and the registry" if st.registry else ""))
        if problems:
            return problems  # keep the state: `lab down` again retries
        if keep:
            with contextlib.suppress(FileNotFoundError):
                st.path.unlink()
        else:
            shutil.rmtree(st.dir, ignore_errors=True)
        return problems

    # ---- lookup ------------------------------------------------------------------
    @classmethod
    def open(cls, name: str, root: Path | None = None) -> Lab:
        """Return the lab called NAME (LabNotFound if there is none)."""
        return cls(load_lab(name, root))

    @classmethod
    def all(cls, root: Path | None = None) -> list[Lab]:
        return [cls(s) for s in list_labs(root)]

    @classmethod
    def down_named(cls, name: str, root: Path | None = None, keep: bool = False,
                   say: Say = _quiet) -> list[str]:
        """Remove lab NAME; a missing lab is not an error (returns no problems)."""
        try:
            lab = cls.open(name, root)
        except LabNotFound:
            return []
        return lab.down(keep, say)

    def nodes(self) -> list[dict[str, Any]]:
        """Return `GET /nodes` from the first manager whose daemon answers."""
        for h in self.managers:
            if h.running():
                return swarm.nodes(h.state)
        raise LabSystemError(f"lab {self.name}: no manager's daemon runs")

    def etcd_members(self) -> list[dict[str, Any]]:
        """Return the etcd cluster's members as the first manager's etcd lists them."""
        return swarm.etcd_members(self.state.hosts[0])

    def info(self) -> dict[str, Any]:
        """Return a JSON-able summary (for `lab ls --format json` and tests)."""
        return {"Name": self.name, "Hosts": len(self.state.hosts),
                "Managers": self.state.managers, "State": self.status(),
                "Underlay": self.state.underlay, "Registry": self.registry_addr}
