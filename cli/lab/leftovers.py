"""What of a lab is still on this machine: the check behind `lab down` and the tests.

Each item is a readable line naming the kind and the object: a process, a
namespace file, a link, a firewall rule, a mount, a cgroup. An empty list
means the lab left nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from .hosts import mounts_under
from .model import LabState
from .procs import CGROUP_ROOT, host_pids
from .underlay import netns_inode, rules_tagged


def leftovers(state: LabState) -> list[str]:
    """Return every process, netns, link, rule, mount and cgroup of STATE still present."""
    found: list[str] = []
    links = set(os.listdir("/sys/class/net"))
    for h in state.all_hosts():
        ino = netns_inode(Path(h.netns))
        found += [f"process {p} of {h.name}: {_cmd(p)}"
                  for p in host_pids(ino, h.cgroup_parent, h.dir)]
        if os.path.exists(h.netns):
            found.append(f"netns file {h.netns}")
        if h.veth in links:
            found.append(f"link {h.veth}")
        hierarchies = [CGROUP_ROOT, *CGROUP_ROOT.iterdir()] if CGROUP_ROOT.is_dir() else []
        found += [f"cgroup {p}" for hier in hierarchies
                  if (p := hier / h.cgroup_parent).is_dir()]
    if state.bridge in links:
        found.append(f"link {state.bridge}")
    found += [f"iptables rule {r}" for r in rules_tagged(state.rule_tag)]
    found += [f"mount {m}" for m in mounts_under(state.dir)]
    return found


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return "?"
