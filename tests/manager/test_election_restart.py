"""A restarted manager takes the leader key back from its own dead previous run at once."""

from __future__ import annotations

import asyncio
import time

from shoal.manager.election import Election


async def test_a_restarted_candidate_leads_without_waiting_for_its_old_lease(
    client, root: str
) -> None:
    key = f"{root}/leader".encode()
    old = await client.lease(30)  # the previous run of "a" died holding the key
    await client.put(key, b"a", lease=old.id)
    a = Election(client, "a", key=key, ttl=5)
    start = time.monotonic()
    term = await asyncio.wait_for(a.campaign(), 10)
    try:
        assert time.monotonic() - start < 3  # not the old lease's 30 s
        assert (await a.leader()) == "a" and term.candidate == "a"
    finally:
        await a.stop()


async def test_another_candidate_still_waits_for_the_holder(client, root: str) -> None:
    key = f"{root}/leader".encode()
    lease = await client.lease(30)
    await client.put(key, b"b", lease=lease.id)
    a = Election(client, "a", key=key, ttl=5)
    try:
        campaign = asyncio.ensure_future(a.campaign())
        await asyncio.sleep(1.0)
        assert not campaign.done()
        campaign.cancel()
    finally:
        await client.revoke_lease(lease.id)
        await a.stop()
