"""Release a removed container's addresses once the kernel has deleted its devices.

Deleting a veth takes the kernel 17-33 ms (it waits for RCU grace periods),
most of what a network adds to a container's exit. So sandbox_remove does
not delete the veths: it unbinds the sandbox's namespace, and the kernel,
destroying the namespace in the background, deletes each veth pair with it.
Until the host end of an endpoint is gone its address (and the MAC made
from it) stay leased, so they are never handed out while the old veth still
sits on the bridge. The Reaper waits for that, polling each host end by
interface index from a thread of its own, then releases the lease (Ipam
writes its file). A veth still there after TIMEOUT seconds (something else
holds the namespace) is deleted by hand. An overlay endpoint (a macvlan in
the sandbox) has no host end to watch: sandbox_remove hands over a netlink
socket opened in the sandbox (it keeps the namespace), through which the
reaper deletes the macvlan, then it lets the namespace go. `settle`
finishes the endpoints on one address at once (a connect that asks for that
address), `drain` all of them (the daemon stops).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shoal.engine.network.errors import NetworkError
from shoal.engine.network.netlink import Netlink

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Doomed:
    """An endpoint whose device is going away; its lease waits for that."""

    network_id: str
    ip: str
    owner: str  # the endpoint id the address is leased to
    netns: str | None  # the namespace of the device (the host end of a veth), if not HOLDER's
    ifname: str  # the device, by name
    index: int  # and by interface index
    holder: Netlink | None = None  # a socket in the sandbox: delete the device through it
    deadline: float = 0.0


class Reaper:
    """Release the lease of each Doomed endpoint once its device has disappeared.

    RELEASE(network id, ip, owner) releases a lease if OWNER still holds it.
    """

    def __init__(self, release: Callable[[str, str, str], None], timeout: float = 10.0,
                 interval: float = 0.02) -> None:
        self._release = release
        self.timeout = timeout
        self.interval = interval
        self._cond = threading.Condition()
        self._items: list[Doomed] = []  # waiting
        self._busy: list[Doomed] = []  # being finished by the thread
        self._thread: threading.Thread | None = None

    def add(self, items: Iterable[Doomed]) -> None:
        """Watch ITEMS (their namespace is already unbound)."""
        items = list(items)
        if not items:
            return
        with self._cond:
            deadline = time.monotonic() + self.timeout
            for it in items:
                it.deadline = deadline
            self._items += items
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="shoal-veth-reaper",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def pending(self) -> list[tuple[str, str]]:
        """Return the (network id, ip) still waiting for their device to go."""
        with self._cond:
            return [(it.network_id, it.ip) for it in self._items + self._busy]

    def settle(self, network_id: str, ip: str) -> bool:
        """Finish the endpoints holding IP on NETWORK_ID now (deleting their device if still
        there); return whether there was one."""
        def mine(it: Doomed) -> bool:
            return it.network_id == network_id and it.ip == ip

        with self._cond:
            hit = [it for it in self._items if mine(it)]
            self._items = [it for it in self._items if not mine(it)]
            busy = any(mine(it) for it in self._busy)
            while any(mine(it) for it in self._busy):
                self._cond.wait(0.1)
        for it in hit:
            self._finish(it, kill=True)
        return bool(hit) or busy

    def drain(self, timeout: float | None = None) -> None:
        """Wait up to TIMEOUT (default: the reaper's) for every device to go, then delete the
        remaining ones by hand and release everything."""
        end = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._cond:
            while (self._items or self._busy) and time.monotonic() < end:
                self._cond.wait(max(0.0, min(0.1, end - time.monotonic())))
            rest, self._items = self._items, []
        for it in rest:
            self._finish(it, kill=True)
        with self._cond:
            while self._busy:  # a kernel call of the thread's, at most
                self._cond.wait(0.1)

    # ---- the thread -----------------------------------------------------------------
    def _run(self) -> None:
        socks: dict[str | None, Netlink] = {}
        try:
            while True:
                with self._cond:
                    if not self._items:
                        self._thread = None
                        self._cond.notify_all()
                        return
                    items = list(self._items)
                now = time.monotonic()
                for it in items:
                    gone = False
                    if it.holder is None:
                        try:
                            gone = self._gone(socks, it)
                        except (NetworkError, OSError) as exc:
                            log.warning("%s: %s", it.ifname, exc)
                    if not (gone or it.holder is not None or now > it.deadline):
                        continue
                    with self._cond:
                        if all(x is not it for x in self._items):
                            continue  # settled meanwhile
                        self._items.remove(it)
                        self._busy.append(it)
                    try:
                        self._finish(it, kill=not gone)
                    finally:
                        with self._cond:
                            self._busy.remove(it)
                            self._cond.notify_all()
                with self._cond:
                    wanted = {it.netns for it in self._items if it.holder is None}
                    for ns in [ns for ns in socks if ns not in wanted]:
                        socks.pop(ns).close()  # a socket would keep an overlay's netns alive
                    if self._items:
                        self._cond.wait(self.interval)
        except Exception:
            with self._cond:
                self._thread = None
                self._cond.notify_all()
            log.exception("veth reaper stopped")
        finally:
            for nl in socks.values():
                nl.close()

    @staticmethod
    def _gone(socks: dict[str | None, Netlink], it: Doomed) -> bool:
        nl = socks.get(it.netns)
        if nl is None:
            try:
                nl = socks[it.netns] = Netlink(it.netns)
            except (NetworkError, OSError):
                return True  # the namespace is gone, and the device with it
        lk = nl.link_by_index(it.index)
        return lk is None or lk.name != it.ifname

    def _finish(self, it: Doomed, kill: bool) -> None:
        if kill:
            try:
                nl = it.holder or Netlink(it.netns)
                try:
                    lk = nl.link_by_index(it.index)
                    if lk is not None and lk.name == it.ifname:
                        if it.holder is None:
                            log.info("deleting %s by hand", it.ifname)
                        with contextlib.suppress(NetworkError):
                            nl.delete_link(it.index)
                finally:
                    nl.close()
                    it.holder = None
            except (NetworkError, OSError):
                pass  # its namespace is gone: so is the device
        if it.holder is not None:
            it.holder.close()
            it.holder = None
        try:
            self._release(it.network_id, it.ip, it.owner)
        except Exception:  # the lease stays; the next daemon start drops it (reconcile)
            log.exception("releasing %s on %s", it.ip, it.network_id[:12])
