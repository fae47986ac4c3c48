"""Fetch, decode, write in one transaction, then acknowledge: the loop behind both of the store's consumers.

A message is acknowledged only after its rows are committed. A message that cannot be decoded goes to
the dead-letter subject and is terminated, without holding up the rest of its batch. While Postgres is
down the batch is kept (with in-progress signals so JetStream does not hand it to another replica) and
its write retried with capped exponential backoff; when the service is stopping, retrying ends with the
grace period and the batch is returned to the stream undelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

import asyncpg
from nats.aio.client import Client
from nats.aio.msg import Msg

from jamjet_common.deadletter import DecodeDeadLetter, publish_decode_dead_letter
from jamjet_common.errors import ContractError, JamjetError
from jamjet_common.messages import ErrorBody
from jamjet_common.pullfeed import PullFeed
from jamjet_common.service import fetch_batches
from services.event_store.database import Database, StoreUnavailableError
from services.event_store.retry import Backoff, is_poison
from services.event_store.rounds import Rounds
from services.event_store.tracing import batch_span

logger = logging.getLogger(__name__)

T = TypeVar("T")
Decode = Callable[[Msg], T | None]
Write = Callable[[asyncpg.Connection, Sequence[T]], Awaitable[None]]
DLQ_RETRY_SECS = 5.0
LOG_EVERY_ATTEMPTS = 10


class Result(enum.Enum):
    WRITTEN = "written"
    POISONED = "poisoned"
    GAVE_UP = "gave_up"


class DeadLetterSink(Protocol):
    async def send(self, msg: Msg, error: JamjetError) -> None:
        """Settle ``msg``, which cannot be decoded or stored, without holding up its consumer."""


class DeadLetters:
    """Publishes undecodable or unstorable messages to ``jamjet.dlq.decode``, then terminates them."""

    def __init__(self, nc: Client, consumer: str, service: str) -> None:
        self._nc = nc
        self._consumer = consumer
        self._service = service

    async def send(self, msg: Msg, error: JamjetError) -> None:
        stream_seq = msg.metadata.sequence.stream
        try:
            await publish_decode_dead_letter(self._nc, self._record(msg, error))
        except Exception as exc:  # NATS trouble: keep the message and try again later
            logger.warning("could not dead-letter stream seq %d (%r); retrying later", stream_seq, exc)
            await _settle(msg.nak(delay=DLQ_RETRY_SECS))
            return
        logger.warning("dead-lettered %s (stream seq %d): %s", msg.subject, stream_seq, error)
        await _settle(msg.term())

    def _record(self, msg: Msg, error: JamjetError) -> DecodeDeadLetter:
        body = ErrorBody(code=error.code, message=error.message)
        max_payload = self._nc.max_payload
        return DecodeDeadLetter.of(msg, body, self._service, max_payload=max_payload, consumer=self._consumer)


class KeepInStream:
    """For the DLQ's own consumer: a dead letter is never dead-lettered again.

    The record is terminated so that it stops blocking, and stays readable in JAMJET_DLQ (limits
    retention) under the logged stream sequence.
    """

    async def send(self, msg: Msg, error: JamjetError) -> None:
        stream_seq = msg.metadata.sequence.stream
        logger.error(
            "dead letter %s (DLQ stream seq %d) cannot be stored: %s", msg.subject, stream_seq, error
        )
        await _settle(msg.term())


class BatchConsumer[T]:
    def __init__(
        self,
        name: str,
        db: Database,
        decode: Decode[T],
        write: Write[T],
        dead_letters: DeadLetterSink,
        *,
        batch: int,
        ack_wait: float,
        grace: float,
        stopping: asyncio.Event,
    ) -> None:
        self.name = name
        self._db = db
        self._decode = decode
        self._write = write
        self._dead_letters = dead_letters
        self._batch = batch
        self._ack_wait = ack_wait
        self._grace = grace
        self._stopping = stopping
        self._stop_deadline: float | None = None
        self._feed: PullFeed | None = None
        self._rounds = Rounds()

    async def run(self, psub: PullFeed) -> None:
        self._feed = psub
        try:
            async for msgs in fetch_batches(psub, self._batch, self._stopping):
                self._rounds.began()
                try:
                    await self.handle(msgs)
                finally:
                    self._rounds.ended()
        finally:
            self._rounds.release()

    async def caught_up(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until the messages this consumer held when asked are settled: the
        batch being written, and the one its feed holds, which then goes out without its linger."""
        holds = self._feed is not None and self._feed.hurry()
        await self._rounds.reached(self._rounds.done + self._rounds.handling + holds, timeout)

    async def handle(self, msgs: list[Msg]) -> None:
        pairs: list[tuple[Msg, T]] = []
        skipped: list[Msg] = []
        for msg in msgs:
            try:
                item = self._decode(msg)
            except ContractError as exc:
                await self._dead_letters.send(msg, exc)
                continue
            if item is None:
                skipped.append(msg)
            else:
                pairs.append((msg, item))
        if pairs:
            with batch_span(self.name, [msg for msg, _ in pairs]):
                await self._commit(pairs)
        for msg in skipped:
            await _settle(msg.ack())

    async def _commit(self, pairs: list[tuple[Msg, T]]) -> None:
        msgs = [msg for msg, _ in pairs]
        result, error = await self._write_retrying(msgs, [item for _, item in pairs])
        if result is Result.WRITTEN:
            for msg in msgs:
                await _settle(msg.ack())
        elif result is Result.GAVE_UP:
            if self._feed is not None:
                # Stopped first: a nak'ed message goes at once to a pull still open, this one's included,
                # and one in flight to a feed that stops is lost to everyone until the ack wait.
                await self._feed.stop()
            for msg in msgs:
                await _settle(msg.nak())
        elif len(pairs) == 1:
            await self._dead_letters.send(
                msgs[0], ContractError(f"Postgres rejected it: {error}", code="unstorable")
            )
        else:
            # Find the poisoned messages by writing one at a time, in order.
            logger.warning("%s: batch of %d rejected (%s); writing one by one", self.name, len(pairs), error)
            for pair in pairs:
                await self._commit([pair])

    async def _write_retrying(self, msgs: list[Msg], items: list[T]) -> tuple[Result, BaseException | None]:
        backoff = Backoff()
        started = last_progress = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._db.pool.acquire() as conn:
                    await self._write(conn, items)
            except Exception as exc:
                if is_poison(exc):
                    return Result.POISONED, exc
                if self._past_grace():
                    logger.warning("%s: stopping; %d messages go back to the stream", self.name, len(msgs))
                    return Result.GAVE_UP, exc
                self._log_failure(exc, attempt, len(msgs))
                if time.monotonic() - last_progress > self._ack_wait / 3:
                    last_progress = time.monotonic()
                    await _keep_alive(msgs)
                await self._pause(backoff.next_delay())
                continue
            if attempt > 1:
                logger.info("%s: Postgres is back; wrote after %.1fs", self.name, time.monotonic() - started)
            return Result.WRITTEN, None

    def _log_failure(self, exc: Exception, attempt: int, count: int) -> None:
        if attempt == 1 or attempt % LOG_EVERY_ATTEMPTS == 0:
            expected = (
                OSError,
                TimeoutError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                StoreUnavailableError,
            )
            unexpected = not isinstance(exc, expected)
            logger.warning(
                "%s: writing %d messages failed (attempt %d): %r; retrying",
                self.name,
                count,
                attempt,
                exc,
                exc_info=unexpected,
            )

    def _past_grace(self) -> bool:
        if not self._stopping.is_set():
            return False
        if self._stop_deadline is None:
            self._stop_deadline = time.monotonic() + self._grace
        return time.monotonic() >= self._stop_deadline

    async def _pause(self, delay: float) -> None:
        if self._stopping.is_set() and self._stop_deadline is not None:
            delay = min(delay, max(self._stop_deadline - time.monotonic(), 0.0))
        await asyncio.sleep(delay)


async def _keep_alive(msgs: list[Msg]) -> None:
    for msg in msgs:
        await _settle(msg.in_progress())


async def _settle(action: Awaitable[object]) -> None:
    # A lost ack only means a redelivery, which the idempotent write absorbs.
    with contextlib.suppress(Exception):
        await action
