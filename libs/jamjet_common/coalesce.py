"""Concurrent reads of one key share one request, and none is answered from before it asked.

A burst of starts reads the same tenant record and the same workflow's latest version thousands of times
at once. Callers that arrive while a read of their key is in flight join the *next* read, which is sent
when the one in flight ends: each caller gets a value read after it asked (as fresh as a read of its own,
so a write it saw complete is never missed), and a key costs at most one request per round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class Coalesced[K, V]:
    def __init__(self, read: Callable[[K], Awaitable[V]]) -> None:
        self._read = read
        self._sent: dict[K, asyncio.Future[V]] = {}
        self._next: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        joined = self._next.get(key)
        if joined is None:
            joined = asyncio.ensure_future(self._round(key, self._sent.get(key)))
            joined.add_done_callback(_retrieved)
            self._next[key] = joined
        # Shielded: a caller that gives up must not cancel the read the others wait for.
        return await asyncio.shield(joined)

    async def _round(self, key: K, before: asyncio.Future[V] | None) -> V:
        if before is not None:
            await asyncio.wait({before})
        me = self._next.pop(key)
        self._sent[key] = me  # from here on, a new caller waits for the next round
        try:
            return await self._read(key)
        finally:
            if self._sent.get(key) is me:
                del self._sent[key]


def _retrieved[V](future: asyncio.Future[V]) -> None:
    """Every caller may have given up: the failure is theirs to see, not the loop's to log."""
    if not future.cancelled():
        with contextlib.suppress(BaseException):
            future.exception()
