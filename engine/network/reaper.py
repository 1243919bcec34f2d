"""Release a removed container's addresses once the kernel has deleted its veths.

Deleting a veth takes the kernel 17-33 ms (it waits for RCU grace periods),
most of what a network adds to a container's exit. So sandbox_remove does
not delete the veths: it unbinds the sandbox's namespace, and the kernel,
destroying the namespace in the background, deletes each veth pair with it.
Until the host end of an endpoint is gone its address (and the MAC made
from it) stay leased, so they are never handed out while the old veth still
sits on the bridge. The Reaper waits for that, polling each host end by
interface index from a thread of its own, then releases the lease (Ipam
writes its file). A veth still there after TIMEOUT seconds (something else
holds the namespace) is deleted by hand. `settle` finishes the endpoints on
one address at once (a connect that asks for that address), `drain` all of
them (the daemon stops).
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
    """An endpoint whose veth the kernel is deleting; its lease waits for that."""

    network_id: str
    ip: str
    owner: str  # the endpoint id the address is leased to
    netns: str | None  # the namespace of the host end (the host's, or an overlay's)
    ifname: str  # the host end, by name
    index: int  # and by interface index
    deadline: float = 0.0


class Reaper:
    """Release the lease of each Doomed endpoint once its host end has disappeared.

    RELEASE(network id, ip, owner) releases a lease if OWNER still holds it.
    """

    def __init__(self, release: Callable[[str, str, str], None], timeout: float = 10.0,
                 interval: float = 0.02) -> None:
        self._release = release
        self.timeout = timeout
        self.interval = interval
        self._cond = threading.Condition()
        self._items: list[Doomed] = []
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

    def pending(self) -> list[tuple[str, str]]:
        """Return the (network id, ip) still waiting for their veth to go."""
        with self._cond:
            return [(it.network_id, it.ip) for it in self._items]

    def settle(self, network_id: str, ip: str) -> bool:
        """Finish the endpoints holding IP on NETWORK_ID now (deleting their veth if still
        there); return whether there was one."""
        with self._cond:
            hit = [it for it in self._items if it.network_id == network_id and it.ip == ip]
            self._items = [it for it in self._items if all(it is not h for h in hit)]
        for it in hit:
            self._finish(it, kill=True)
        return bool(hit)

    def drain(self, timeout: float | None = None) -> None:
        """Wait up to TIMEOUT (default: the reaper's) for every veth to go, then delete the
        remaining ones by hand and release everything."""
        end = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._cond:
            while self._items and time.monotonic() < end:
                self._cond.wait(max(0.0, min(0.1, end - time.monotonic())))
            rest, self._items = self._items, []
        for it in rest:
            self._finish(it, kill=True)

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
                    try:
                        gone = self._gone(socks, it)
                    except (NetworkError, OSError) as exc:
                        log.warning("veth %s: %s", it.ifname, exc)
                        gone = False
                    if gone or now > it.deadline:
                        with self._cond:  # finished under the lock: settle() sees it done
                            if all(x is not it for x in self._items):
                                continue  # settled meanwhile
                            self._items.remove(it)
                            self._finish(it, kill=not gone)
                with self._cond:
                    wanted = {it.netns for it in self._items}
                    for ns in [ns for ns in socks if ns not in wanted]:
                        socks.pop(ns).close()  # a socket would keep an overlay's netns alive
                    self._cond.notify_all()
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
                return True  # the namespace is gone, and the veth with it
        lk = nl.link_by_index(it.index)
        return lk is None or lk.name != it.ifname

    def _finish(self, it: Doomed, kill: bool) -> None:
        if kill:
            try:
                with Netlink(it.netns) as nl:
                    lk = nl.link_by_index(it.index)
                    if lk is not None and lk.name == it.ifname:
                        log.info("deleting veth %s by hand", it.ifname)
                        with contextlib.suppress(NetworkError):
                            nl.delete_link(it.index)
            except (NetworkError, OSError):
                pass  # its namespace is gone: so is the veth
        try:
            self._release(it.network_id, it.ip, it.owner)
        except Exception:  # the lease stays; the next daemon start drops it (reconcile)
            log.exception("releasing %s on %s", it.ip, it.network_id[:12])
