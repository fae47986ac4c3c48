"""Coalesced reads: one request per key per round, and never a value read before the caller asked."""

from __future__ import annotations

import asyncio

import pytest

from jamjet_common.coalesce import Coalesced


class Store:
    """A value that a test changes, read through a gate the test opens."""

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0
        self.gate = asyncio.Event()
        self.sent = asyncio.Event()

    async def read(self, key: str) -> int:
        self.reads += 1
        self.sent.set()
        value = self.value  # what the request saw when it was sent
        await self.gate.wait()
        if key == "missing":
            raise KeyError(key)
        return value


async def test_callers_during_a_read_share_the_next_one_which_sees_their_writes() -> None:
    store = Store()
    reads = Coalesced(store.read)
    first = asyncio.create_task(reads.get("k"))
    await store.sent.wait()
    store.value = 1  # written after the first read was sent: later callers must see it
    later = [asyncio.create_task(reads.get("k")) for _ in range(50)]
    await asyncio.sleep(0)
    store.gate.set()
    assert await first == 0
    assert await asyncio.gather(*later) == [1] * 50
    assert store.reads == 2


async def test_a_failed_read_fails_its_callers_and_a_cancelled_caller_not_the_others() -> None:
    store = Store()
    reads = Coalesced(store.read)
    quitter = asyncio.create_task(reads.get("missing"))
    stayer = asyncio.create_task(reads.get("missing"))
    await asyncio.sleep(0)
    quitter.cancel()
    store.gate.set()
    with pytest.raises(KeyError):
        await stayer
    assert store.reads == 1
