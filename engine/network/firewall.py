"""iptables rules: isolation, outbound NAT, published ports, in chains of shoal's own.

Every rule lives in shoal's chains (<P>-FORWARD, <P>-ISOLATION-1/2 in filter;
<P>-DNAT, <P>-POSTROUTING in nat), which are hooked once at the top of
FORWARD, PREROUTING, OUTPUT and POSTROUTING. Each rule carries the comment
tag. The chains are rendered whole from the current networks and port
mappings and loaded with one `iptables-restore --noflush` (declaring a chain
flushes it), so applying is idempotent and a removed network or container
leaves no rule behind. Rules never depend on the FORWARD policy: with
dockerd's DROP policy shoal's networks still pass, because <P>-FORWARD
ACCEPTs their traffic explicitly. A network's "bridge" here is the host's
interface named like it (bridge.py): container-to-container frames are
switched in the bridge's namespace and never reach these rules.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable

from shoal.engine.network import nsutil
from shoal.engine.network.errors import NetworkSystemError
from shoal.engine.network.model import Network, PortMapping

HOOKS = {  # table -> (builtin chain, match, own chain suffix)
    "filter": [("FORWARD", "", "FORWARD")],
    "nat": [("PREROUTING", "-m addrtype --dst-type LOCAL", "DNAT"),
            ("OUTPUT", "-m addrtype --dst-type LOCAL", "DNAT"),
            ("POSTROUTING", "", "POSTROUTING")],
}
CHAINS = {"filter": ("FORWARD", "ISOLATION-1", "ISOLATION-2"), "nat": ("DNAT", "POSTROUTING")}


def render(prefix: str, tag: str, networks: Iterable[Network], ports: Iterable[PortMapping],
           missing_hooks: dict[str, list[str]] | None = None,
           services: Iterable[tuple[str, int, int, list[str]]] = ()) -> str:
    """Return the iptables-restore input that makes shoal's chains match the state.

    SERVICES are ingress ports (proto, published, target, backend ips): one
    DNAT per backend, round robin with `-m statistic --mode nth` (ingress.py).
    """
    c = f"-m comment --comment {tag}"
    nets = [n for n in networks if n.has_device and n.bridge]
    fw, iso1, iso2 = (f"{prefix}-{s}" for s in CHAINS["filter"])
    dnat, post = (f"{prefix}-{s}" for s in CHAINS["nat"])
    f = [f":{fw} - [0:0]", f":{iso1} - [0:0]", f":{iso2} - [0:0]"]
    f += (missing_hooks or {}).get("filter", [])
    f.append(f"-A {fw} {c} -j {iso1}")
    f.append(f"-A {iso1} -m conntrack --ctstate DNAT {c} -j RETURN")
    n_ = [f":{dnat} - [0:0]", f":{post} - [0:0]"]
    n_ += (missing_hooks or {}).get("nat", [])
    for n in nets:
        b = n.bridge
        f.append(f"-A {fw} -o {b} -m conntrack --ctstate RELATED,ESTABLISHED {c} -j ACCEPT")
        if n.icc:
            f.append(f"-A {fw} -i {b} -o {b} {c} -j ACCEPT")
        else:
            f.append(f"-A {fw} -i {b} -o {b} {c} -j DROP")
        if n.routed:
            f.append(f"-A {fw} -o {b} -m conntrack --ctstate DNAT {c} -j ACCEPT")
            f.append(f"-A {fw} -i {b} ! -o {b} {c} -j ACCEPT")
            f.append(f"-A {iso1} -i {b} ! -o {b} {c} -j {iso2}")
            f.append(f"-A {iso2} -o {b} {c} -j DROP")
            n_.append(f"-A {post} -s 127.0.0.0/8 -o {b} {c} -j MASQUERADE")
            n_.append(f"-A {post} -s {n.subnet} -o {b} -m conntrack --ctstate DNAT {c} "
                      "-j MASQUERADE")
            if n.masquerade:
                n_.append(f"-A {post} -s {n.subnet} ! -o {b} {c} -j MASQUERADE")
        else:  # internal or overlay: nothing in or out but its own members
            f.append(f"-A {iso1} -i {b} ! -o {b} {c} -j DROP")
            f.append(f"-A {iso1} -o {b} ! -i {b} {c} -j DROP")
    for p in ports:
        dst = f"-d {p.host_ip} " if p.host_ip not in ("", "0.0.0.0") else ""
        n_.append(f"-A {dnat} {dst}-p {p.proto} -m {p.proto} --dport {p.host_port} {c} "
                  f"-j DNAT --to-destination {p.container_ip}:{p.container_port}")
    for proto, published, target, ips in services:
        for i, ip in enumerate(ips):
            left = len(ips) - i
            nth = f"-m statistic --mode nth --every {left} --packet 0 " if left > 1 else ""
            n_.append(f"-A {dnat} -p {proto} -m {proto} --dport {published} {nth}{c} "
                      f"-j DNAT --to-destination {ip}:{target}")
    return "\n".join(["*filter", *f, "COMMIT", "*nat", *n_, "COMMIT", ""])


def hook_rule(prefix: str, tag: str, table: str, builtin: str, match: str, suffix: str) -> str:
    """Return the rule (without -A/-I) that jumps from BUILTIN to one of shoal's chains."""
    m = f"{match} " if match else ""
    return f"{builtin} {m}-m comment --comment {tag} -j {prefix}-{suffix}"


class Firewall:
    """Load shoal's rules into iptables (in namespace NETNS, None for the daemon's)."""

    def __init__(self, netns: str | None, prefix: str, tag: str) -> None:
        self.netns = netns
        self.prefix = prefix
        self.tag = tag

    def _run(self, args: list[str], stdin: str | None = None) -> str:
        def call() -> subprocess.CompletedProcess[str]:
            return subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)

        try:
            res = nsutil.run_in(self.netns, call)
        except OSError as exc:
            raise NetworkSystemError(f"{args[0]}: {exc}") from exc
        if res.returncode != 0:
            raise NetworkSystemError(f"{' '.join(args)} failed: {res.stderr.strip()}\n"
                                     + (stdin or ""))
        return res.stdout

    def _saved(self, table: str) -> list[str]:
        return self._run(["iptables-save", "-t", table]).splitlines()

    def _hook_lines(self, table: str) -> dict[str, list[str]]:
        """Return, per hook target chain, the existing `-A` lines that jump to it."""
        out: dict[str, list[str]] = {}
        for ln in self._saved(table):
            for builtin, _m, suffix in HOOKS[table]:
                target = f"-j {self.prefix}-{suffix}"
                if ln.startswith(f"-A {builtin} ") and ln.endswith(target):
                    out.setdefault(f"{builtin} {suffix}", []).append(ln)
        return out

    def missing_hooks(self) -> dict[str, list[str]]:
        """Return the `-I ... 1` lines for hooks that are absent, and `-D` for duplicates."""
        res: dict[str, list[str]] = {}
        for table, hooks in HOOKS.items():
            have = self._hook_lines(table)
            for builtin, match, suffix in hooks:
                lines = have.get(f"{builtin} {suffix}", [])
                if not lines:
                    rule = hook_rule(self.prefix, self.tag, table, builtin, match, suffix)
                    res.setdefault(table, []).append(f"-I {rule.replace(' ', ' 1 ', 1)}")
                for extra in lines[1:]:
                    res.setdefault(table, []).append("-D" + extra[2:])
        return res

    def apply(self, networks: Iterable[Network], ports: Iterable[PortMapping],
              check_hooks: bool = False,
              services: Iterable[tuple[str, int, int, list[str]]] = ()) -> None:
        """Make shoal's chains match NETWORKS, PORTS and SERVICES (re-hooked if CHECK_HOOKS)."""
        missing = self.missing_hooks() if check_hooks else None
        self._run(["iptables-restore", "--noflush"],
                  render(self.prefix, self.tag, networks, ports, missing, services))

    def teardown(self) -> None:
        """Remove every hook and chain of shoal's (for tests and uninstall)."""
        lines: dict[str, list[str]] = {"filter": [], "nat": []}
        for table in lines:
            saved = self._saved(table)
            chains = [f"{self.prefix}-{s}" for s in CHAINS[table]]
            present = [ch for ch in chains if any(ln.startswith(f":{ch} ") for ln in saved)]
            for group in self._hook_lines(table).values():
                lines[table] += ["-D" + ln[2:] for ln in group]
            lines[table] += [f":{ch} - [0:0]" for ch in present]
            lines[table] += [f"-X {ch}" for ch in present]
        text = "".join(f"*{t}\n" + "\n".join(ls) + "\nCOMMIT\n" for t, ls in lines.items())
        self._run(["iptables-restore", "--noflush"], text)

    def count(self) -> int:
        """Return how many iptables rules and chains carry shoal's tag or prefix."""
        n = 0
        for table in ("filter", "nat"):
            for ln in self._saved(table):
                tagged = f"--comment {self.tag} " in ln + " "
                if tagged or ln.startswith(f":{self.prefix}-"):
                    n += 1
        return n
