"""Which nodes are DOWN: judged by one manager only, the leader (or a lone dispatcher).

Every dispatcher tracks the heartbeats of its own sessions (liveness.py) and
publishes the nodes alive there (liveness_records.py). The judge runs on the
leader as one of its loops; every `interval` it reads the records of the
other managers (one range read) and looks at the READY nodes of the store:

- a node held anywhere (a session here, or listed in a record) is alive;
- a node *released* — its deadline passed here, or it left a record that is
  still there (that manager's deadline passed) — is written DOWN at once:
  the manager that held it already waited its full TTL;
- any other READY node that no one holds gets a window to show up
  (`reconnect_window`: the time a live agent takes to notice that its manager
  is gone and to open a session with another): it was listed by a manager
  whose record vanished (that manager died or stopped), or the judge has
  just started (a new leader does not know yet who holds what), or it has
  just registered and its manager's record lags behind.

Writes happen only on the READY -> DOWN transition (through the dispatcher's
node batcher). A node written DOWN that is in fact alive somewhere is
written READY again by the dispatcher holding it (dispatcher.py), and a node
that comes back opens a session, which writes READY.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from shoal.manager.dispatcher.liveness import Liveness
from shoal.manager.dispatcher.liveness_records import EtcdErrors, read_records
from shoal.manager.store import Store
from shoal.proto.shoal.v1.objects_pb2 import Node, NodeStatus

log = logging.getLogger(__name__)

READY = NodeStatus.READY

MarkDown = Callable[[str], None]


class LivenessJudge:
    """Writes DOWN the READY nodes no manager holds any more."""

    name = "liveness-judge"

    def __init__(
        self,
        store: Store,
        local: Liveness,
        window: Callable[[], float],
        mark_down: MarkDown,
        *,
        prefix: bytes | None = None,
        own_key: bytes | None = None,
        interval: float = 0.25,
    ) -> None:
        self.store = store
        self.local = local
        self._window = window
        self._mark_down = mark_down
        self.prefix = prefix  # None: a lone dispatcher, no records to read
        self.own_key = own_key
        self.interval = interval
        self.running = False
        self.downed = 0  # nodes written DOWN
        self._records: dict[bytes, set[str]] | None = None
        self._released: set[str] = set()
        self._grace: dict[str, float] = {}  # node id -> when it is DOWN if still unheld

    def released(self, node_id: str) -> None:
        """Note that this manager's deadline for NODE_ID passed (only the judge writes DOWN)."""
        if self.running:
            self._released.add(node_id)

    async def run(self) -> None:
        """Judge until cancelled (the leader's term ends, or the dispatcher stops)."""
        self._records, self._released, self._grace = None, set(), {}
        self.running = True
        try:
            while True:
                try:
                    await self._round()
                except Exception:  # a bug must not end the leader's term
                    log.exception("liveness judge round failed")
                await asyncio.sleep(self.interval)
        finally:
            self.running = False

    async def _round(self) -> None:
        now = self.local.now()
        if self.prefix is not None:
            try:
                records = await read_records(self.store.client, self.prefix)
            except EtcdErrors as exc:
                log.warning("liveness records not read (no node judged this round): %s", exc)
                return
            records.pop(self.own_key or b"", None)  # this manager's own: in memory
            self._compare(records, now)
            self._records = records
        self.judge(now)

    def _compare(self, records: dict[bytes, set[str]], now: float) -> None:
        """Note the nodes that left a record (released) or lost it (given a window)."""
        if self._records is None:
            return
        for key, before in self._records.items():
            after = records.get(key)
            if after is None:
                log.info("liveness record %s is gone: its %d nodes get %.1f s to reconnect",
                         key.decode(errors="replace"), len(before), self._window())
                for node_id in before:
                    self._grace[node_id] = now + self._window()
            else:
                self._released.update(before - after)

    def held(self) -> set[str]:
        """Return the nodes some manager holds (sessions here, or published elsewhere)."""
        held = self.local.nodes()
        for nodes in (self._records or {}).values():
            held |= nodes
        return held

    def judge(self, now: float) -> None:
        """Write DOWN the READY nodes that are released, or unheld past their window."""
        held = self.held()
        ready: set[str] = set()
        for node in self.store.list(Node, copy=False):
            n: Any = node
            if int(n.status.state) != READY:
                continue
            ready.add(n.id)
            if n.id in held:
                self._grace.pop(n.id, None)
                continue
            until = self._grace.get(n.id)
            if n.id in self._released or (until is not None and now >= until):
                self.downed += 1
                log.warning("node %s missed its heartbeats: marking it down", n.id)
                self._mark_down(n.id)
                self._grace[n.id] = now + self._window()  # not again before the write shows
            elif until is None:
                self._grace[n.id] = now + self._window()
        self._released.clear()
        for node_id in [k for k in self._grace if k not in ready]:
            del self._grace[node_id]
