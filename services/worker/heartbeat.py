"""Keeping a work item's lease while its node runs.

The WORK consumer's ``ack_wait`` is the lease. Telling JetStream the item is in progress restarts it;
a worker that dies stops doing so and the item is redelivered to another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from nats.aio.msg import Msg

from jamjet_common.delivery import delivery

logger = logging.getLogger(__name__)


class Delivered(Protocol):
    @property
    def num_delivered(self) -> int: ...


class Lease(Protocol):
    """A delivery whose lease a running node renews: a JetStream message, or a scheduler's inline run."""

    @property
    def headers(self) -> dict[str, str] | None: ...

    @property
    def metadata(self) -> Delivered: ...

    async def in_progress(self) -> None: ...


def times_delivered(lease: Lease) -> int:
    """How many times the lease's message was delivered, this one included: for a JetStream message
    read from its ack subject (``jamjet_common.delivery``), as ``msg.metadata`` builds two dataclasses
    and a datetime for it."""
    if isinstance(lease, Msg):
        return delivery(lease).num_delivered
    return lease.metadata.num_delivered


@contextlib.asynccontextmanager
async def heartbeat(msg: Lease, interval: float, label: str) -> AsyncIterator[None]:
    """Renew ``msg``'s lease every ``interval`` seconds for as long as the block runs."""
    # A timer, not a task: most nodes end before the first beat, and then no task is made at all.
    loop = asyncio.get_running_loop()
    beats: list[asyncio.Task[None]] = []

    def start() -> None:
        beats.append(loop.create_task(_beat(msg, interval, label), name=f"heartbeat:{label}"))

    first = loop.call_later(interval, start)
    try:
        yield
    finally:
        first.cancel()
        # Not awaited: awaiting a cancelled task here could swallow a cancellation of our own caller.
        for task in beats:
            task.cancel()


async def _beat(msg: Lease, interval: float, label: str) -> None:
    while True:
        try:
            await msg.in_progress()
        except Exception as exc:  # the next beat may get through; the lease decides, not us
            logger.warning("%s: heartbeat failed: %s", label, exc)
        await asyncio.sleep(interval)
