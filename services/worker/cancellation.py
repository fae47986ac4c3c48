"""Cancelled executions: stopping their running nodes, and not running their later items.

The scheduler broadcasts a ``CancelNotice`` on ``jamjet.cancel.<tenant>.<execution_id>`` (plain NATS,
every worker hears it). Once the notice is checked against the log (``provenance.CancelNotices``), the
running executors of that execution are cancelled at once; an async node stops at its next await, a
sync function's thread cannot be stopped but its result is discarded. The execution is remembered for
a while, so that an item of it delivered later is not run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")
REMEMBER_SECS = 15 * 60.0
REMEMBERED = 10_000


class Cancelled:
    """What a guarded run returns when its execution was cancelled."""


CANCELLED: Final = Cancelled()


class Cancellations:
    def __init__(
        self,
        *,
        remember_secs: float = REMEMBER_SECS,
        remembered: int = REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._remember_secs = remember_secs
        self._remembered = remembered
        self._clock = clock
        self._cancelled: OrderedDict[str, float] = OrderedDict()
        self._running: dict[str, set[asyncio.Task[Any]]] = {}

    def cancelled(self, execution_id: str) -> bool:
        at = self._cancelled.get(execution_id)
        if at is None:
            return False
        if self._clock() - at > self._remember_secs:
            del self._cancelled[execution_id]
            return False
        return True

    def cancel(self, execution_id: str) -> int:
        """Remember ``execution_id`` as cancelled and cancel its running nodes; how many were running."""
        self._cancelled[execution_id] = self._clock()
        self._cancelled.move_to_end(execution_id)
        while len(self._cancelled) > self._remembered:
            self._cancelled.popitem(last=False)
        tasks = self._running.get(execution_id, set())
        for task in tasks:
            task.cancel()
        logger.info("execution %s cancelled: stopping %d running node(s)", execution_id, len(tasks))
        return len(tasks)

    async def guard(self, execution_id: str, work: Coroutine[Any, Any, T]) -> T | Cancelled:
        """Run ``work`` unless or until ``execution_id`` is cancelled."""
        if self.cancelled(execution_id):
            work.close()
            return CANCELLED
        task = asyncio.ensure_future(work)
        self._running.setdefault(execution_id, set()).add(task)
        try:
            return await task
        except asyncio.CancelledError:
            # Our own task being cancelled (shutdown) cancels ``task`` too, and must go on up.
            if task.cancelled() and not _being_cancelled():
                return CANCELLED
            raise
        finally:
            self._forget(execution_id, task)

    def _forget(self, execution_id: str, task: asyncio.Task[Any]) -> None:
        running = self._running.get(execution_id)
        if running is not None:
            running.discard(task)
            if not running:
                del self._running[execution_id]


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
