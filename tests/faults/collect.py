"""Gathering a scenario's observations: the collected stream, Postgres, the WORK and DLQ streams.

Postgres and the WORK stream lag behind the events by design (the event store's batches, a lease
that must lapse before a stale item is redelivered and acknowledged), so each is read until it agrees
or a deadline passes; the invariants then judge whatever was read last.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from jamjet_common import streams, subjects
from tests.faults.invariants import comparable, terminal_of
from tests.faults.observations import DispatchKey, Event, Observations

POLL_SECS = 0.5
ITEM_KEYS = ("item", "work_item", "payload")
_READ_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, nats.errors.Error)

SELECT_EVENTS = """
SELECT execution_id, sequence, event_id::text AS id, kind::text AS kind FROM events
WHERE execution_id = ANY($1::text[]) ORDER BY execution_id, sequence
"""
SELECT_STATUS = "SELECT execution_id, status FROM executions WHERE execution_id = ANY($1::text[])"
HAS_DEAD_LETTERS = "SELECT to_regclass('dead_letters') IS NOT NULL"
SELECT_DEAD_LETTERS = "SELECT to_jsonb(d)::text AS row FROM dead_letters d"


@dataclass(slots=True)
class StoredState:
    events: dict[str, list[Event]] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    dead_letters: list[DispatchKey] | None = None


async def poll_until[T](
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float
) -> T | None:
    """Read until ``done`` holds or ``timeout`` passes; the last successful read (None if none)."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        with contextlib.suppress(*_READ_ERRORS):
            last = await read()
            if done(last):
                return last
        if time.monotonic() > deadline:
            return last
        await asyncio.sleep(POLL_SECS)


async def read_postgres(url: str, execution_ids: list[str]) -> StoredState:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        state = StoredState()
        for row in await conn.fetch(SELECT_EVENTS, execution_ids):
            event = {"sequence": row["sequence"], "id": row["id"], "kind": json.loads(row["kind"])}
            state.events.setdefault(row["execution_id"], []).append(event)
        state.status = {
            row["execution_id"]: row["status"] for row in await conn.fetch(SELECT_STATUS, execution_ids)
        }
        if await conn.fetchval(HAS_DEAD_LETTERS):
            state.dead_letters = [
                dead_letter_key(json.loads(r["row"])) for r in await conn.fetch(SELECT_DEAD_LETTERS)
            ]
        return state
    finally:
        await conn.close()


def dead_letter_key(row: dict[str, Any]) -> DispatchKey:
    """The dispatch a dead_letters row is about, whether its columns or its stored item say so."""
    sources: list[Any] = [row, *(row.get(key) for key in ITEM_KEYS)]
    for source in sources:
        if isinstance(source, str):
            with contextlib.suppress(ValueError):
                source = json.loads(source)
        if isinstance(source, dict) and "execution_id" in source and source.get("dispatch") is not None:
            return str(source["execution_id"]), int(source["dispatch"])
    return f"<unreadable row {sorted(row)}>", 0


def postgres_agrees(stream: dict[str, list[Event]], stored: StoredState) -> bool:
    """Every execution's rows equal its stream events, and its status row is terminal like the stream."""
    for execution_id, events in stream.items():
        if comparable(stored.events.get(execution_id, [])) != comparable(events):
            return False
        terminal = terminal_of(events)
        if terminal and stored.status.get(execution_id) != terminal[0]:
            return False
    return True


async def work_left(js: JetStreamContext) -> int:
    info = await js.stream_info(streams.WORK)
    return int(info.state.messages)


async def read_dlq(js: JetStreamContext) -> tuple[list[DispatchKey], list[str]]:
    """Dead-lettered work items (by dispatch) and undecodable messages in JAMJET_DLQ."""
    try:
        info = await js.stream_info(streams.DLQ)
    except NotFoundError:
        return [], []
    work: list[DispatchKey] = []
    decode: list[str] = []
    if not info.state.messages:
        return work, decode
    for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
        with contextlib.suppress(NotFoundError):
            msg = await js.get_msg(streams.DLQ, seq=seq)
            _sort_dead_letter(msg.subject or "", msg.data or b"", work, decode)
    return work, decode


def _sort_dead_letter(subject: str, data: bytes, work: list[DispatchKey], decode: list[str]) -> None:
    if subject.startswith(subjects.DLQ_WORK_ALL.removesuffix(">")):
        item = json.loads(data)["item"]
        work.append((str(item["execution_id"]), int(item["dispatch"])))
    else:
        decode.append(f"{subject}: {data[:200].decode(errors='replace')}")


@dataclass(slots=True)
class Collector:
    js: JetStreamContext
    database_url: str
    settle_secs: float
    drain_secs: float

    async def observe(self, obs: Observations) -> Observations:
        """Fill ``obs`` (which holds the collected stream) from Postgres, WORK and DLQ."""
        ids = list(obs.planned)
        stream = {e: obs.stream.get(e, []) for e in ids}
        stored = await poll_until(
            lambda: read_postgres(self.database_url, ids),
            lambda s: postgres_agrees(stream, s),
            self.settle_secs,
        )
        if stored is None:
            obs.table_problem = f"Postgres could not be read within {self.settle_secs:g}s"
            stored = StoredState()
        obs.postgres_events, obs.postgres_status = stored.events, stored.status
        obs.table_dead_letters = stored.dead_letters
        left = await poll_until(lambda: work_left(self.js), lambda n: n == 0, self.drain_secs)
        obs.work_left = -1 if left is None else left
        obs.dlq_work, obs.dlq_decode = await read_dlq(self.js)
        return obs
