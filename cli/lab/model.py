"""The lab model: names of every kernel object a lab makes, and its state file.

A lab NAME (1-6 characters, [a-z][a-z0-9]*) owns, with I the host index:

    lab dir       <lab root>/NAME/ (state.json, and hosts/I/{data,run,shoald.log})
    bridge        slab-NAME            the underlay, in the root namespace (IFNAMSIZ 15)
    host netns    /run/netns/slab-NAME-I     (`ip netns exec slab-NAME-I ...` works)
    host veth     slab-NAME-I on the bridge; "eth0" inside the host
    host name     NAME-I (its UTS hostname, its node name, `shoal --host NAME-I`)
    cgroup parent shoal-lab-NAME-I
    firewall      one FORWARD ACCEPT rule commented "shoal-lab-NAME"

The registry host, when asked for, is index "r": NAME-registry, netns
slab-NAME-r. The lab root is /var/lib/shoal-lab (SHOAL_LAB_ROOT overrides it):
data roots of lab hosts are persistent state like any shoald's, so the lab
keeps them beside its state file rather than on /run.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import InvalidLabSpec, LabNotFound

DEFAULT_ROOT = Path("/var/lib/shoal-lab")
NETNS_DIR = Path("/run/netns")
REGISTRY_INDEX = "r"
REGISTRY_PORT = 5000
MAX_HOSTS = 200
_NAME = re.compile(r"[a-z][a-z0-9]{0,5}")


def lab_root() -> Path:
    """Return the directory holding every lab (SHOAL_LAB_ROOT or /var/lib/shoal-lab)."""
    return Path(os.environ.get("SHOAL_LAB_ROOT") or DEFAULT_ROOT)


def check_name(name: str) -> str:
    """Return NAME if it can name a lab; raise InvalidLabSpec saying why not."""
    if not _NAME.fullmatch(name or ""):
        raise InvalidLabSpec(
            f"invalid lab name {name!r}: 1 to 6 characters, a lowercase letter then letters "
            "or digits (kernel device names are at most 15 characters: slab-NAME-I)")
    return name


def check_counts(nodes: int, managers: int) -> None:
    """Refuse a host count or manager count that cannot make a cluster."""
    if not 1 <= nodes <= MAX_HOSTS:
        raise InvalidLabSpec(f"--nodes {nodes}: a lab has 1 to {MAX_HOSTS} hosts")
    if not 1 <= managers <= nodes:
        raise InvalidLabSpec(f"--managers {managers}: between 1 and --nodes ({nodes})")


def bridge_name(lab: str) -> str:
    return f"slab-{lab}"


def netns_name(lab: str, index: int | str) -> str:
    return f"slab-{lab}-{index}"


def veth_name(lab: str, index: int | str) -> str:
    return f"slab-{lab}-{index}"


def host_name(lab: str, index: int | str) -> str:
    return f"{lab}-registry" if index == REGISTRY_INDEX else f"{lab}-{index}"


def cgroup_parent(lab: str, index: int | str) -> str:
    return f"shoal-lab-{lab}-{index}"


def rule_tag(lab: str) -> str:
    return f"shoal-lab-{lab}"


@dataclass
class HostState:
    """One lab host: its names, addresses, directories and the pid of its main process."""

    name: str
    index: str
    role: str  # "manager" | "worker" | "registry"
    addr: str  # on the underlay
    netns: str  # path of the bound namespace
    veth: str  # the root-namespace end, on the lab bridge
    dir: str
    cgroup_parent: str
    bridge_subnet: str = ""  # the default bridge network of its shoald ("" for the registry)
    pid: int = 0  # shoald (or the registry); 0 when stopped
    cut: bool = False

    @property
    def data_root(self) -> Path:
        return Path(self.dir) / "data"

    @property
    def run_root(self) -> Path:
        return Path(self.dir) / "run"

    @property
    def socket(self) -> str:
        return str(self.run_root / "shoal.sock")

    @property
    def host(self) -> str:
        """Return the -H value that reaches this host's shoald."""
        return "unix://" + self.socket

    @property
    def log(self) -> Path:
        return Path(self.dir) / ("registry.log" if self.role == "registry" else "shoald.log")


@dataclass
class LabState:
    """What `lab up` made: enough for `lab down` to remove all of it after a crash."""

    name: str
    dir: str
    block: str  # the lab's private /16: underlay = its first /24, host I's bridge = its I-th
    underlay: str
    bridge: str
    bridge_addr: str  # the root namespace's address on the underlay
    rule_tag: str
    managers: int = 1
    hosts: list[HostState] = field(default_factory=list)
    registry: HostState | None = None

    @property
    def path(self) -> Path:
        return Path(self.dir) / "state.json"

    @property
    def registry_addr(self) -> str:
        """Return HOST:PORT of the lab's registry ("" without one)."""
        return f"{self.registry.addr}:{REGISTRY_PORT}" if self.registry else ""

    def all_hosts(self) -> list[HostState]:
        """Return the shoald hosts and the registry host."""
        return self.hosts + ([self.registry] if self.registry else [])

    def host(self, name: str) -> HostState:
        """Return the host called NAME ("lab-2", or just "2")."""
        for h in self.all_hosts():
            if name in (h.name, h.index):
                return h
        raise LabNotFound(f"lab {self.name} has no host {name!r} "
                          f"(hosts: {', '.join(h.name for h in self.all_hosts())})")

    def save(self) -> None:
        """Write state.json atomically (a crash leaves the old or the new file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, path: Path) -> LabState:
        """Read a state file; raise LabNotFound if it is missing, LabError if unreadable."""
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise LabNotFound(f"no lab state at {path}") from exc
        except (OSError, ValueError) as exc:
            raise InvalidLabSpec(f"{path}: unreadable lab state: {exc}") from exc
        try:
            hosts = [HostState(**h) for h in raw.pop("hosts", [])]
            reg = raw.pop("registry", None)
            return cls(**raw, hosts=hosts, registry=HostState(**reg) if reg else None)
        except TypeError as exc:
            raise InvalidLabSpec(f"{path}: unexpected lab state: {exc}") from exc


def load_lab(name: str, root: Path | None = None) -> LabState:
    """Return the state of lab NAME under ROOT (default: lab_root())."""
    check_name(name)
    try:
        return LabState.load((root or lab_root()) / name / "state.json")
    except LabNotFound:
        raise LabNotFound(f"no lab named {name!r} (see 'shoal lab ls')") from None


def list_labs(root: Path | None = None) -> list[LabState]:
    """Return the state of every lab under ROOT, by name; unreadable ones are skipped."""
    base = root or lab_root()
    out = []
    for p in sorted(base.glob("*/state.json")) if base.is_dir() else []:
        try:
            out.append(LabState.load(p))
        except (LabNotFound, InvalidLabSpec):
            continue
    return out


def resolve_host(value: str, root: Path | None = None) -> str | None:
    """Return the unix:// address of lab host VALUE ("lab-2"), or None if it is not one.

    Cheap for the CLI's every start: only called for a -H value without "://",
    and only a file read.
    """
    lab, sep, index = value.rpartition("-")
    if not sep or not _NAME.fullmatch(lab) or not index:
        return None
    try:
        state = LabState.load((root or lab_root()) / lab / "state.json")
        host = state.host(value)
    except (LabNotFound, InvalidLabSpec):
        return None
    return host.host if host.role != "registry" else None
