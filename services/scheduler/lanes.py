"""Per-execution lanes: work for one execution runs in order, different executions run concurrently."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Lanes:
    def __init__(self) -> None:
        self._queues: dict[str, deque[Job]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_freed: Callable[[], None] = lambda: None
        """Called each time a lane runs out of work (see ``priority``)."""

    def submit(self, key: str, job: Job) -> None:
        queue = self._queues.get(key)
        if queue is not None:
            queue.append(job)
            return
        self._queues[key] = deque([job])
        task = asyncio.create_task(self._drain(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, key: str) -> None:
        queue = self._queues[key]
        while queue:
            job = queue.popleft()
            try:
                await job()
            except Exception:
                logger.exception("lane %s: job failed", key)
        del self._queues[key]
        self.on_freed()

    @property
    def busy(self) -> int:
        return len(self._queues)

    def busy_with(self, keys: Callable[[str], bool]) -> bool:
        """Whether any lane whose key ``keys`` selects still has work."""
        return any(keys(key) for key in self._queues)

    async def join(self, timeout: float) -> bool:
        """Wait for queued work to finish; False if the timeout struck first."""
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        return not pending


async def run_in_lane[T](lanes: Lanes, key: str, job: Callable[[], Awaitable[T]]) -> T:
    """Run ``job`` in ``key``'s lane and return its result to the caller."""
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    async def wrapped() -> None:
        try:
            future.set_result(await job())
        except Exception as exc:
            future.set_exception(exc)

    lanes.submit(key, wrapped)
    return await future
