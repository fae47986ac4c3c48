"""Partition leases: which scheduler replica plans the executions of which partition.

Every replica keeps ``member.<instance>`` alive in the leases bucket (whose TTL is the lease), and each
tick derives the same assignment from the live members: partition p goes to the p-th of the sorted
members, round robin. A replica acquires an assigned partition by creating ``partition.<p>``, which
succeeds only once the former owner released it or its lease expired; it renews what it owns with
revision-checked updates, and releases what is no longer its own once the events it took from that
partition are done. A replica whose renewals fail counts its lease as valid only until the last
successful renewal (timed from before the request) plus most of the lease, so it stops planning before
another replica can take over. Conditional appends remain the safety net under all of this.

A partition's *term* is the bucket revision at which its current owner acquired it: every later term is
higher, so the term stamped on each planned event tells, along any log, that owners never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Protocol

from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from jamjet_common.bucket import snapshot

logger = logging.getLogger(__name__)
PLANNER_HEADER = "Jamjet-Planner"
"""On every event a scheduler appends: ``<instance> <partition> <term>`` (term ``-``: not owned)."""
VALID_SHARE = 0.9
"""Of the lease, what a replica counts on after a renewal: the bucket's clock started later."""
_KEY_UNSAFE = re.compile(r"[^-_=a-zA-Z0-9]")
MEMBER_PREFIX = "member."


@dataclass(slots=True)
class Held:
    term: int
    revision: int
    valid_until: float


class PartitionHost(Protocol):
    """What the scheduler does when a partition becomes its own or stops being so."""

    async def gained(self, partition: int) -> None: ...

    async def releasing(self, partition: int) -> None:
        """Stop taking the partition's events and wait for those taken to be done."""
        ...

    async def lost(self, partition: int) -> None: ...


def assignment(members: Iterable[str], count: int) -> dict[int, str]:
    """Partition -> member, the same for every replica that sees the same members."""
    ordered = sorted(set(members))
    return {p: ordered[p % len(ordered)] for p in range(count)} if ordered else {}


def member_key(instance: str) -> str:
    return f"{MEMBER_PREFIX}{_KEY_UNSAFE.sub('_', instance)}"


def partition_key(partition: int) -> str:
    return f"partition.{partition}"


class PartitionLeases:
    def __init__(
        self, kv: KeyValue, instance: str, count: int, lease_secs: float, host: PartitionHost
    ) -> None:
        self._kv = kv
        self.instance = instance
        self._me = member_key(instance)
        self._count = count
        self._lease = lease_secs
        self._host = host
        self.held: dict[int, Held] = {}

    def term(self, partition: int) -> int | None:
        """The term of the partition's lease if this replica holds it now, else None."""
        held = self.held.get(partition)
        if held is None or held.valid_until < time.monotonic():
            return None
        return held.term

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.tick()
            except Exception:  # NATS away: what is held stays valid until its deadline
                logger.warning("partition leases: tick failed", exc_info=True)
            await asyncio.wait({asyncio.ensure_future(stopping.wait())}, timeout=self._lease / 4)

    async def tick(self) -> None:
        # Renewals first and all at once: on a saturated event loop every await waits a whole turn of
        # the loop, and renewing one partition after another (behind the membership read) let a busy
        # replica's own leases run out mid-burst, so it stopped planning until it took them back.
        await self._renew_held()
        await self._bounded(self._kv.put(self._me, self.instance.encode()))
        owners = assignment(await self._members(), self._count)
        mine = {p for p, member in owners.items() if member == self._me}
        for partition in sorted(set(self.held) - mine):
            await self.release(partition)
        for partition in sorted(mine - set(self.held)):
            await self._acquire(partition)

    async def _renew_held(self) -> None:
        await self._expire()
        renewals = [self._renew(partition) for partition in sorted(self.held)]
        failures = [r for r in await asyncio.gather(*renewals, return_exceptions=True) if r is not None]
        await self._expire()
        if failures:
            raise failures[0]

    async def release_all(self) -> None:
        """On a graceful stop: hand every partition over at once instead of at lease expiry."""
        for partition in sorted(self.held):
            await self.release(partition)
        await self._kv.delete(self._me)

    async def _bounded[T](self, request: Awaitable[T]) -> T:
        """A bucket request cut off early: one stuck on a leader election would hold up the expiries."""
        return await asyncio.wait_for(request, self._lease / 4)

    async def _members(self) -> list[str]:
        # bucket.snapshot, not kv.keys(): nats-py's watch can end before the keys arrive, and a tick that
        # saw no other member would reach for partitions others hold (refused, but churning).
        # nats-py keeps the bucket's context and name private; they are read here alone.
        members = await self._bounded(snapshot(self._kv._js, self._kv._name, f"{MEMBER_PREFIX}>"))
        # Itself, always: a view read while the bucket moves leader can miss keys, and dropping out of
        # its own view would make a replica release everything it holds.
        return [*members, self._me]

    async def _expire(self) -> None:
        now = time.monotonic()
        for partition in [p for p, held in self.held.items() if held.valid_until < now]:
            logger.warning("partition %d: lease not renewed in time; no longer planning it", partition)
            del self.held[partition]
            await self._host.lost(partition)

    async def _acquire(self, partition: int) -> None:
        sent = time.monotonic()
        try:
            revision = await self._bounded(self._kv.create(partition_key(partition), self.instance.encode()))
        except KeyWrongLastSequenceError:
            return  # still held by its former owner: it releases it, or its lease expires
        self.held[partition] = Held(revision, revision, sent + self._lease * VALID_SHARE)
        logger.info("partition %d: acquired (term %d)", partition, revision)
        await self._host.gained(partition)

    async def _renew(self, partition: int) -> None:
        held = self.held[partition]
        sent = time.monotonic()
        try:
            held.revision = await self._bounded(
                self._kv.update(partition_key(partition), self.instance.encode(), last=held.revision)
            )
        except KeyWrongLastSequenceError:
            logger.warning("partition %d: taken over by another replica", partition)
            del self.held[partition]
            await self._host.lost(partition)
            return
        held.valid_until = sent + self._lease * VALID_SHARE

    async def release(self, partition: int) -> None:
        held = self.held[partition]
        await self._host.releasing(partition)
        del self.held[partition]
        with contextlib.suppress(KeyWrongLastSequenceError):  # changed meanwhile: it expires on its own
            await self._kv.delete(partition_key(partition), last=held.revision)
        logger.info("partition %d: released (term %d)", partition, held.term)
