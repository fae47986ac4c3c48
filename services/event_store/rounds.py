"""The batches a consumer has finished, for a reader that waits for the ones in hand when it asked.

The events feed lingers after a first event (``JAMJET_STORE_LINGER_MS``) so that a transaction carries
many events. A query need not see rows that old: it hurries the feed and waits until the batch being
written and the one the feed holds are done (``BatchConsumer.caught_up``), so a read that follows an
event the store had already received sees it, however long the linger.
"""

from __future__ import annotations

import asyncio
import contextlib


class Rounds:
    def __init__(self) -> None:
        self.done = 0
        """Batches finished (written, given up or dead-lettered: either way not in hand any more)."""
        self.handling = False
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []

    def began(self) -> None:
        self.handling = True

    def ended(self) -> None:
        self.handling = False
        self.done += 1
        still = []
        for target, future in self._waiting:
            if target > self.done:
                still.append((target, future))
            elif not future.done():
                future.set_result(None)
        self._waiting = still

    def release(self) -> None:
        """Let every reader go: the consumer stopped."""
        for _, future in self._waiting:
            if not future.done():
                future.set_result(None)
        self._waiting = []

    async def reached(self, target: int, timeout: float) -> None:
        """Wait until ``target`` batches are done, or ``timeout`` passed (then read what is stored)."""
        if self.done >= target:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((target, future))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, timeout)
