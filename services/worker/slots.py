"""Free execution slots, shared by the fetch loops of every queue a worker serves."""

from __future__ import annotations

import asyncio


class Slots:
    def __init__(self, size: int) -> None:
        self._free = size
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def free(self) -> int:
        return self._free

    async def reserve(self, most: int) -> int:
        """Wait for a free slot, then take up to ``most``; 0 once closed."""
        while not self._closed:
            if self._free > 0:
                granted = min(self._free, most)
                self._free -= granted
                return granted
            self._changed.clear()
            await self._changed.wait()
        return 0

    def release(self, count: int) -> None:
        """Give back ``count`` slots; negative when more items arrived than were reserved."""
        self._free += count
        self._changed.set()

    def close(self) -> None:
        self._closed = True
        self._changed.set()
