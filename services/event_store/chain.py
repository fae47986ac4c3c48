"""Which messages on an execution's subject are its events: the stream readers' rule, kept in Postgres.

The EVENTS stream stores whatever is published on ``jamjet.append.<t>.<e>``, conditional or not, and
every reader takes, in stream order, only a message whose ``sequence`` is the last accepted one + 1
(``jamjet_common.refusals``). Keeping "the first message stored with each sequence" is not the same: a
message forged with a sequence the log has not reached yet comes first in the stream, and would take the
row of the true event that later gets that sequence. So the store decides each message as the readers
do, whatever order its batches commit in:

- the usual case reads nothing from the stream: every writer appends conditionally, and the server
  stores the condition with the message (``Nats-Expected-Last-Subject-Sequence``) only if it held, so a
  message appended right after the stored event ``n - 1`` is event ``n``;
- otherwise (appended without the condition, after a refused message, or before the store has its
  predecessor) the store reads the subject, from its last stored event before the message up to the
  message, through the stream's leader, and folds it by the readers' rule.

A refused message is not stored; the scheduler dead-letters it with the reason.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import asyncpg

from jamjet_common import refusals
from jamjet_common.eventlog import Entry, Unreadable
from services.event_store.intake import StoredEvent

logger = logging.getLogger(__name__)

# Sequences grow with stream order, so the last stored event before a stream position is the one with
# the highest sequence among the stored events before it.
SELECT_BEFORE = """
SELECT sequence, stream_seq FROM events
WHERE execution_id = $1 AND stream_seq < $2
ORDER BY sequence DESC LIMIT 1
"""


class LogReader(Protocol):
    """The messages on one execution's subject in stream order (``EventLog.read_entries``)."""

    def read_entries(
        self, tenant: str, execution_id: str, *, after_stream_seq: int = 0
    ) -> AsyncIterator[Entry | Unreadable]: ...


def chain_keys(batch: Sequence[StoredEvent]) -> set[tuple[str, int]]:
    """The stored events ``log_events`` needs to know of: at each message's sequence and the one before."""
    keys = {(e.event.execution_id, s) for e in batch for s in (e.event.sequence, e.event.sequence - 1)}
    return {k for k in keys if k[1] >= 1}


async def log_events(
    conn: asyncpg.Connection,
    batch: Sequence[StoredEvent],
    log: LogReader,
    known: defaultdict[str, dict[int, int]],
) -> list[StoredEvent]:
    """The messages of ``batch`` that are their execution's events and not stored yet.

    ``known``: the stored events at ``chain_keys(batch)`` (execution → sequence → stream sequence). The
    caller holds the executions' advisory locks, so what is stored does not change meanwhile.
    """
    by_execution: defaultdict[str, list[StoredEvent]] = defaultdict(list)
    for stored in sorted(batch, key=lambda e: e.stream_seq):
        by_execution[stored.event.execution_id].append(stored)
    taken: list[StoredEvent] = []
    for execution_id, messages in by_execution.items():
        chain = Chain(conn, log, execution_id, known[execution_id])
        taken += [stored for stored in messages if await chain.takes(stored)]
    return taken


class Chain:
    """One execution's events as the store knows them (sequence → stream sequence), decided in order."""

    def __init__(
        self, conn: asyncpg.Connection, log: LogReader, execution_id: str, known: dict[int, int]
    ) -> None:
        self._conn = conn
        self._log = log
        self._execution_id = execution_id
        self._known = known

    async def takes(self, stored: StoredEvent) -> bool:
        """Whether ``stored`` is the event with its sequence and is not stored yet."""
        sequence, stream_seq = stored.event.sequence, stored.stream_seq
        held = self._known.get(sequence)
        if held is not None:
            if held != stream_seq:
                self._refused(stream_seq, f"sequence {sequence} is the event at stream seq {held}")
            return False  # else a redelivery of a stored event
        last = sequence - 1 if self._follows(stored) else await self._last_before(stored)
        refusal = refusals.out_of_sequence(sequence, last)
        if refusal is not None:
            self._refused(stream_seq, str(refusal))
            return False
        self._known[sequence] = stream_seq
        return True

    def _follows(self, stored: StoredEvent) -> bool:
        """Appended right after the stored event before it (the server checked the condition)."""
        if stored.after is None:
            return False
        if stored.event.sequence == 1:
            return stored.after == 0
        return self._known.get(stored.event.sequence - 1) == stored.after

    async def _last_before(self, stored: StoredEvent) -> int:
        """The last accepted sequence before ``stored``: folded from the stream, as readers do."""
        last, after = await self._stored_before(stored.stream_seq)
        entries = self._log.read_entries(stored.tenant, self._execution_id, after_stream_seq=after)
        async for entry in entries:
            if entry.stream_seq >= stored.stream_seq:
                break
            if isinstance(entry, Entry) and entry.event.sequence == last + 1:
                last += 1
        return last

    async def _stored_before(self, stream_seq: int) -> tuple[int, int]:
        """(sequence, stream seq) of the last event before ``stream_seq`` stored or taken in this batch."""
        found = (0, 0)
        record = await self._conn.fetchrow(SELECT_BEFORE, self._execution_id, stream_seq)
        if record is not None:
            found = (record["sequence"], record["stream_seq"])
        earlier = [(seq, at) for seq, at in self._known.items() if at < stream_seq]
        return max([found, *earlier])

    def _refused(self, stream_seq: int, why: str) -> None:
        logger.warning("%s: stream seq %d is not the log's event: %s", self._execution_id, stream_seq, why)
