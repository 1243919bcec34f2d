"""Service VIPs: load balancing inside each client container's namespace.

A cluster service in endpoint mode vip has one virtual address per network
(records.py); no host answers for it. On an overlay, containers talk
through macvlans on the VXLAN device and their packets cross no shared
namespace, so, like Docker's IPVS in every sandbox, the balancing is done
in the namespace of each container that may connect: an nftables table
`shoal_vip` with, in the output hook, one rule per VIP

    ip daddr VIP dnat to numgen random mod N map { 0 : T0, 1 : T1, ... }

which sends each new connection (any protocol and port; the port is kept)
to one of the service's N task addresses with even odds (this kernel has
no IPVS). Only a connection's first packet goes through the nat hook, so
an open connection keeps its backend when the task list changes. A VIP
with no task is rejected at once (connection refused, ICMP unreachable)
rather than left unanswered. The table is replaced whole in one `nft -f`
transaction (delete + add), so a rebuild is atomic; a container with no
VIP has no table (and no conntrack cost).
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Mapping, Sequence

from shoal.engine.network import nsutil
from shoal.engine.network.errors import NetworkSystemError

TABLE = "shoal_vip"


def render(vips: Mapping[str, Sequence[str]]) -> str:
    """Return the `nft -f -` input that makes the sandbox's table match VIPS (vip -> tasks).

    No VIP: the table is only deleted (declared first so that deleting a
    missing table is no error).
    """
    lines = [f"table ip {TABLE}", f"delete table ip {TABLE}"]
    if not vips:
        return "\n".join(lines) + "\n"
    lines += [f"table ip {TABLE} {{", "  chain lb {",
              "    type nat hook output priority -100; policy accept;"]
    empty = []
    for vip in sorted(vips, key=ipaddress.IPv4Address):
        backends = sorted(dict.fromkeys(vips[vip]), key=ipaddress.IPv4Address)
        if not backends:
            empty.append(vip)
        elif len(backends) == 1:
            lines.append(f"    ip daddr {vip} dnat to {backends[0]}")
        else:
            pairs = ", ".join(f"{i} : {ip}" for i, ip in enumerate(backends))
            lines.append(f"    ip daddr {vip} dnat to numgen random mod {len(backends)} "
                         f"map {{ {pairs} }}")
    lines.append("  }")
    if empty:  # after the nat hook: only packets to a VIP that was not translated
        lines += ["  chain none {", "    type filter hook output priority 0; policy accept;",
                  f"    ip daddr {{ {', '.join(empty)} }} meta l4proto tcp "
                  "reject with tcp reset",
                  f"    ip daddr {{ {', '.join(empty)} }} reject", "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def check(vips: Mapping[str, Sequence[str]]) -> None:
    """Raise ValueError unless every VIP and task address is IPv4."""
    for vip, tasks in vips.items():
        for ip in (vip, *tasks):
            ipaddress.IPv4Address(ip)


def apply(sandbox: str, text: str) -> None:
    """Load TEXT (from render) with `nft -f -` in namespace SANDBOX."""
    def load() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nft", "-f", "-"], input=text, capture_output=True, text=True,
                              check=False)

    try:
        res = nsutil.run_in(sandbox, load)
    except OSError as exc:  # no nft, or the namespace is gone
        raise NetworkSystemError(f"service VIP rules in {sandbox}: {exc}") from exc
    if res.returncode != 0:
        raise NetworkSystemError(f"service VIP rules in {sandbox}: {res.stderr.strip()}")
