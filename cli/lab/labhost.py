"""One lab host as the Python API shows it: reach it, fail it, bring it back.

Failure controls for e2e/ and the failover benchmarks (docs/lab.md):
kill() is a power loss, cut()/restore() pull and plug its cable, start()
boots it (a reboot's worth of volatile state wiped first if nothing of it
survived), stop() is a clean daemon stop.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import hosts as hostops
from . import underlay
from .errors import LabSystemError
from .model import HostState
from .procs import terminate

if TYPE_CHECKING:
    from .lab import Lab


class LabHost:
    """One host of a lab: reach it, and fail it (kill, cut) or bring it back."""

    def __init__(self, lab: Lab, state: HostState) -> None:
        self.lab, self.state = lab, state

    name = property(lambda self: self.state.name)
    addr = property(lambda self: self.state.addr)
    role = property(lambda self: self.state.role)
    socket = property(lambda self: self.state.socket)
    netns = property(lambda self: self.state.netns)

    @property
    def host(self) -> str:
        """Return the -H value of this host's shoald."""
        return self.state.host

    def pids(self) -> list[int]:
        """Return the pids of every process of this host (daemon, etcd, shims, containers)."""
        return hostops.pids(self.state)

    def running(self) -> bool:
        """Return True if the host's daemon runs."""
        return hostops.running(self.state)

    def cut(self) -> None:
        """Unplug the host from the underlay (its veth end on the bridge goes down)."""
        underlay.set_cable(self.state.veth, up=False)
        self.state.cut = True
        self.lab.save()

    def restore(self) -> None:
        """Plug the host back into the underlay."""
        underlay.set_cable(self.state.veth, up=True)
        self.state.cut = False
        self.lab.save()

    def kill(self) -> None:
        """Lose power: cut the cable and SIGKILL every process of the host at once."""
        self.cut()
        hostops.kill(self.state)
        self.lab.save()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the daemon cleanly (SIGTERM; its containers keep running, as with shoald)."""
        if self.running():
            terminate(self.state.pid, timeout)
        self.state.pid = 0
        self.lab.save()

    def start(self, wait: bool = True) -> None:
        """Boot the host: after a power loss, wipe what a reboot wipes; restore; start the daemon.

        If no process of the host survives (kill(), or a crash), the host
        reboots: its runtime mounts, cgroups and namespace are recreated
        empty, as after a power cycle; its data root stays (the disk).
        """
        h = self.state
        if self.running():
            raise LabSystemError(f"{h.name} runs already (pid {h.pid})")
        if not self.pids():
            self.lab.reboot(h)
        if h.cut:
            self.restore()
        if h.role == "registry":
            hostops.start_registry(h)
        else:
            hostops.start_shoald(h, self.lab.state.registry_addr)
            self.lab.save()
            if wait:
                hostops.wait_ping(h)
        self.lab.save()

    def cli(self, *args: str, check: bool = False, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `shoal --host <this host> ARGS` and return the finished process."""
        shoal = Path(sys.executable).parent / "shoal"
        r = subprocess.run([str(shoal) if shoal.exists() else "shoal", "-H", self.host, *args],
                           capture_output=True, text=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise LabSystemError(f"shoal --host {self.name} {' '.join(args)} exited "
                                 f"{r.returncode}: {r.stderr.strip()}")
        return r

    def exec(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ARGV in the host's network namespace (like `ip netns exec`, without a mount ns)."""
        return subprocess.run(["nsenter", f"--net={self.netns}", *argv], capture_output=True,
                              text=True, timeout=timeout)
