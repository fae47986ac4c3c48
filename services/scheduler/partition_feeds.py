"""The scheduler's side of partition leases: one feed per owned partition, and the planner stamp.

A partition gained starts a pull on its durable consumer; a partition released stops the pull and waits
until the lanes are done with the events already taken (so the next owner never plans alongside), then
the lease goes. A partition lost (its lease expired unrenewed) stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.aio.msg import Msg

from jamjet_common import partitions
from jamjet_common.errors import InvalidTokenError
from jamjet_common.pullfeed import PullFeed
from jamjet_common.service import fetch_batches
from services.scheduler.executions import Executions
from services.scheduler.inline import InlineRuns
from services.scheduler.partitions import PLANNER_HEADER, PartitionLeases
from services.scheduler.priority import CommandsFirst

logger = logging.getLogger(__name__)
IDLE_POLL_SECS = 0.05


@dataclass(slots=True)
class Pull:
    feed: PullFeed
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class PartitionFeeds:
    """Implements :class:`~services.scheduler.partitions.PartitionHost` for the scheduler."""

    def __init__(
        self,
        nc: Client,
        ensure: Callable[[int], Awaitable[None]],
        executions: Executions,
        count: int,
        batch: int,
        prefetch: int,
        grace: float,
        first: CommandsFirst,
    ) -> None:
        self._nc = nc
        self._ensure = ensure
        """Makes a partition's consumer (again: it is kept in server memory)."""
        self._first = first
        self._executions = executions
        self._count = count
        self._batch = batch
        self._prefetch = prefetch
        self._grace = grace
        self._pulls: dict[int, Pull] = {}
        self.leases: PartitionLeases | None = None
        self.inline: InlineRuns | None = None
        """Nodes running in this scheduler: a partition is released after its own are done."""

    def partition(self, execution_id: str) -> int:
        return partitions.partition_of(execution_id, self._count)

    def pulling(self, execution_id: str) -> bool:
        """Whether this replica reads the execution's partition (owned, and not being let go)."""
        return self.partition(execution_id) in self._pulls

    def owns(self, execution_id: str) -> bool:
        return self.leases is not None and self.leases.term(self.partition(execution_id)) is not None

    def stamp(self, execution_id: str) -> dict[str, str]:
        assert self.leases is not None
        partition = self.partition(execution_id)
        term = self.leases.term(partition)
        return {PLANNER_HEADER: f"{self.leases.instance} {partition} {'-' if term is None else term}"}

    async def renew(self) -> None:
        """After a reconnect: the pulls died with the connection."""
        for pull in self._pulls.values():
            await pull.feed.renew()

    async def gained(self, partition: int) -> None:
        name = partitions.consumer_name(partition)
        feed = PullFeed(
            self._nc,
            partitions.SCHED_EVENTS,
            name,
            max_messages=self._prefetch,
            remake=functools.partial(self._ensure, partition),
        )
        await feed.start()
        pull = Pull(feed)
        pull.task = asyncio.create_task(self._consume(pull))
        self._pulls[partition] = pull

    async def releasing(self, partition: int) -> None:
        await self.lost(partition)
        deadline = time.monotonic() + self._grace
        while self._busy_with(partition):
            if time.monotonic() > deadline:
                logger.warning("partition %d: events in hand after %.0fs; releasing", partition, self._grace)
                return
            await asyncio.sleep(IDLE_POLL_SECS)

    def _busy_with(self, partition: int) -> bool:
        def mine(execution_id: str) -> bool:
            return self.partition(execution_id) == partition

        inline = self.inline is not None and self.inline.busy_with(mine)
        return inline or self._executions.lanes.busy_with(mine)

    async def lost(self, partition: int) -> None:
        pull = self._pulls.pop(partition, None)
        if pull is None:
            return
        pull.stopping.set()
        self._first.wake()  # a pull waiting for the commands stops now
        if pull.task is not None:
            with contextlib.suppress(Exception):
                await pull.task
        await pull.feed.stop()

    async def stop(self) -> None:
        for partition in list(self._pulls):
            await self.lost(partition)

    async def _consume(self, pull: Pull) -> None:
        async for msgs in fetch_batches(pull.feed, self._batch, pull.stopping):
            for msg in msgs:
                await self._first.admit_event(pull.stopping)
                await self._on_msg(msg)

    async def _on_msg(self, msg: Msg) -> None:
        try:
            _, tenant, execution_id = partitions.parse_sched_subject(msg.subject)
            stream_seq = partitions.origin_sequence(msg.headers)
        except InvalidTokenError:
            # Only the EVENTS source writes here; anything else is not an event to plan on.
            logger.error("dropping %s: %s", msg.subject, msg.headers)
            await msg.term()
            return
        self._executions.on_event_of(tenant, execution_id, msg, stream_seq)
