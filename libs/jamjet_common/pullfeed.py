"""A continuous pull from a durable JetStream consumer.

nats-py's ``fetch`` sends two pull requests per call and, after the first message of a lingering
request, waits for the rest of the batch; at low traffic every message pays for a fresh request and
for that wait. A feed keeps pull requests outstanding all the time instead (as the Go client's
``Consume`` does) and tops them up as messages are handed out, so a message is handed to the service
the moment it arrives and a busy feed costs one request per half batch.

A feed given a ``Share`` of a ``Credit`` pool also asks for no more than the share allows, so that
several feeds together never hold more messages than their process can start (``credit.py``).

A feed that ``gather``s (the event store's, which writes batches) keeps only a pull for one message
outstanding. Once that message is in, it waits ``gather`` seconds, then asks for the rest with one
``no_wait`` pull: what was stored meanwhile comes in one burst, where messages trickling in one by one
each cost a socket read, a parse and a wake. It does not wait when a batch's worth is stored behind the
message (so the wait never caps how much it takes in a second), and ``hurry`` ends a wait for a reader
that wants what was stored before it asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from jamjet_common.credit import Share
from jamjet_common.delivery import delivery

logger = logging.getLogger(__name__)

STATUS = "Status"
PENDING_MESSAGES = "Nats-Pending-Messages"
HEARTBEAT = "100"
NO_RESPONDERS = "503"
"""A pull that reached no consumer: it is gone (one kept in memory, on a server that restarted)."""
REMAKE_PAUSE_SECS = 1.0
BURST_WAIT_SECS = 2.0
"""How long a gathering feed waits for its ``no_wait`` pull to end (the server ends it at once)."""


class PullFeed:
    """Messages of one durable pull consumer, at most ``max_messages`` requested or buffered."""

    def __init__(
        self,
        nc: Client,
        stream: str,
        consumer: str,
        *,
        max_messages: int,
        expires: float = 30.0,
        heartbeat: float = 2.0,
        api_prefix: str = "$JS.API",
        credit: Share | None = None,
        remake: Callable[[], Awaitable[None]] | None = None,
        gather: float = 0.0,
    ) -> None:
        """``remake``: makes the consumer again when a pull finds none; without it, pulls go on as
        before (a consumer on disk comes back with its server). ``gather``: see the module; not with
        ``credit``."""
        if gather > 0 and credit is not None:
            raise ValueError("a gathering feed takes no credit")
        self._nc = nc
        self._remake = remake
        self._remaking: asyncio.Task[None] | None = None
        self._next_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._max = max_messages
        self._expires = expires
        self._heartbeat = heartbeat
        self._queue: deque[Msg] = deque()
        self._waiter: asyncio.Future[None] | None = None
        """What ``next_batch`` awaits while the queue is empty; a message or the stop resolves it."""
        self._stop_watch: tuple[asyncio.Event, asyncio.Task[None]] | None = None
        self._outstanding = 0
        self._last_activity = time.monotonic()
        self._inbox = ""
        self._sub: Subscription | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._credit = credit
        self._released = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._stopped = False
        self._gather = gather
        self._burst: asyncio.Future[None] | None = None
        """What a gathering ``next_batch`` awaits while its ``no_wait`` pull is outstanding."""
        self._linger: asyncio.Future[None] | None = None
        """What a gathering ``next_batch`` awaits while it waits ``gather``; ``hurry`` ends it early."""
        self._hurried = False
        """The next batch goes out without waiting ``gather`` (``hurry`` found messages, no wait)."""

    async def start(self) -> None:
        await self._subscribe()
        self._watchdog = asyncio.create_task(self._watch())
        if self._credit is not None:
            self._credit.on_release(self._released.set)
            self._pump = asyncio.create_task(self._pump_credit())
        await self._top_up()

    @property
    def buffered(self) -> int:
        """Messages delivered to this feed and not handed out yet."""
        return len(self._queue)

    async def next_batch(self, limit: int, stopping: asyncio.Event) -> list[Msg]:
        """Wait for at least one message (or ``stopping``) and hand out up to ``limit``.

        One caller at a time (a feed has one consumer loop): the wait is a single future.
        """
        while not self._queue:
            if stopping.is_set():
                return []
            # One future resolved by the delivery itself: no waiter tasks per wait, one hop to wake.
            self._wake_on(stopping)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._gather > 0 and len(self._queue) < limit:
            await self._gathered(limit, stopping)
        self._hurried = False
        batch = [self._queue.popleft() for _ in range(min(limit, len(self._queue)))]
        await self._top_up()
        return batch

    def hurry(self) -> bool:
        """Hand out what this gathering feed holds without waiting the rest of ``gather`` (the
        ``no_wait`` pull still takes what is stored): for a reader that wants what was stored before it
        asked. True if the feed holds messages, which its next batch then carries."""
        if self._linger is not None and not self._linger.done():
            self._linger.set_result(None)
            return True
        self._hurried = bool(self._queue)
        return self._hurried

    async def _gathered(self, limit: int, stopping: asyncio.Event) -> None:
        """Wait ``gather`` (unless hurried), then take what was stored meanwhile with one ``no_wait``
        pull."""
        await self._lingered(limit)
        want = min(limit, self._max) - len(self._queue) - self._outstanding
        if want <= 0 or stopping.is_set() or self._stopped:
            return
        self._burst = asyncio.get_running_loop().create_future()
        try:
            await self._request(want, no_wait=True)
            await asyncio.wait_for(self._burst, BURST_WAIT_SECS)
        except Exception as exc:  # no answer (the connection went): hand out what is here
            logger.info("pull %s: no end to a no_wait pull (%r)", self._next_subject, exc)
            self._outstanding = 0
        finally:
            self._burst = None

    async def _lingered(self, limit: int) -> None:
        # The newest message says how many the consumer still holds behind it: a batch's worth stored
        # already makes waiting buy nothing, and would cap how many a second the feed takes.
        if self._hurried or _pending(self._queue[-1]) >= limit - len(self._queue):
            return
        loop = asyncio.get_running_loop()
        self._linger = linger = loop.create_future()
        timer = loop.call_later(self._gather, _resolve, linger)
        try:
            await linger
        finally:
            timer.cancel()
            self._linger = None

    def _burst_over(self) -> None:
        if self._burst is not None and not self._burst.done() and self._outstanding == 0:
            self._burst.set_result(None)

    def _wake_on(self, stopping: asyncio.Event) -> None:
        """Wake ``next_batch`` when ``stopping`` is set: one task per feed and event, not per wait."""
        if self._stop_watch is not None and self._stop_watch[0] is stopping:
            return
        if self._stop_watch is not None:
            self._stop_watch[1].cancel()

        async def wake_when_set() -> None:
            await stopping.wait()
            self._wake()

        self._stop_watch = (stopping, asyncio.create_task(wake_when_set()))

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def stop(self) -> None:
        """Stop pulling and give back what was delivered but not handed out."""
        self._stopped = True
        if self._stop_watch is not None:
            self._stop_watch[1].cancel()
        for task in (self._watchdog, self._pump, self._remaking):
            if task is not None:
                task.cancel()
        if self._sub is not None:
            # The server drops pull requests whose reply subject lost its interest.
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        self._forget_requests()
        given_back = len(self._queue)
        while self._queue:
            with contextlib.suppress(Exception):
                await self._queue.popleft().nak()
        if self._credit is not None:
            self._credit.give(given_back)

    async def renew(self) -> None:
        """Forget the outstanding pulls (the connection that carried them is gone) and pull again."""
        if self._stopped:  # a reconnection while the service drains
            return
        self._forget_requests()
        self._last_activity = time.monotonic()
        # On the same inbox. A request that outlived a short disconnect may still deliver on top of the
        # new ones (a credit-bounded feed counts such a message against its pool all the same); a new
        # inbox would avoid that, but unsubscribing the old one drops what its buffer still holds, and
        # on a saturated event loop (the watchdog also renews when heartbeats are only late) that is
        # messages redelivered after a whole ack wait.
        with contextlib.suppress(Exception):
            await self._top_up()

    def _forget_requests(self) -> None:
        if self._credit is not None:
            self._credit.unsent(self._outstanding)
        self._outstanding = 0

    async def _subscribe(self) -> None:
        inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(inbox, cb=self._on_msg)
        self._inbox = inbox

    async def _on_msg(self, msg: Msg) -> None:
        self._last_activity = time.monotonic()
        status = msg.headers.get(STATUS) if msg.headers and not msg.data else None
        if status is None:
            self._outstanding = max(self._outstanding - 1, 0)
            if self._credit is not None:
                self._credit.delivered(_pending(msg))
            self._queue.append(msg)
            self._wake()
            self._burst_over()
            return
        if status == HEARTBEAT:
            return
        unsent = self._expired(msg, status)
        self._burst_over()
        if self._credit is not None:  # the slots went back to the pool, which tops up its feeds in turn
            self._credit.unsent(unsent)
        if status == NO_RESPONDERS and self._remake is not None:
            self._remake_consumer()
        elif self._credit is None:
            await self._top_up()

    def _remake_consumer(self) -> None:
        """Make the consumer again, then pull again: once at a time, and not more than once a second."""
        if self._remaking is None or self._remaking.done():
            self._remaking = asyncio.create_task(self._remake_then_pull())

    async def _remake_then_pull(self) -> None:
        assert self._remake is not None
        logger.info("pull %s reached no consumer; making it again", self._next_subject)
        try:
            await self._remake()
        except Exception as exc:  # the next pull that finds none tries again
            logger.warning("pull %s: consumer not made again: %r", self._next_subject, exc)
        await asyncio.sleep(REMAKE_PAUSE_SECS)
        if not self._stopped:
            with contextlib.suppress(Exception):  # a broken connection is renewed when it is back
                await self._top_up()

    def _expired(self, msg: Msg, status: str) -> int:
        # 408 (request expired) and 409 (e.g. leadership change) end a request; they say how many
        # of its messages were never sent, which is what stops being outstanding.
        pending = msg.headers.get(PENDING_MESSAGES) if msg.headers else None
        before = self._outstanding
        if pending is None:
            logger.debug("pull %s ended with status %s", self._next_subject, status)
            self._outstanding = 0
        else:
            self._outstanding = max(self._outstanding - int(pending), 0)
        return before - self._outstanding

    async def _top_up(self) -> None:
        if self._gather > 0:
            if not self._queue and self._outstanding == 0 and self._burst is None:
                await self._request(1)
            return
        free = self._max - len(self._queue) - self._outstanding
        if free <= 0 or (self._outstanding > 0 and free < max(1, self._max // 2)):
            return
        batch = free if self._credit is None else self._credit.draw(free)
        if batch > 0:
            await self._request(batch)

    async def _request(self, batch: int, *, no_wait: bool = False) -> None:
        self._outstanding += batch
        await self._nc.publish(
            self._next_subject, json.dumps(self._request_body(batch, no_wait)).encode(), reply=self._inbox
        )

    def _request_body(self, batch: int, no_wait: bool) -> dict[str, object]:
        if no_wait:  # answered at once: what is stored, then a status that ends it
            return {"batch": batch, "no_wait": True}
        expires = self._expires if self._credit is None else self._credit.expires(batch, self._expires)
        return {
            "batch": batch,
            "expires": int(expires * 1e9),
            # The server refuses a heartbeat longer than half the request's life.
            "idle_heartbeat": int(min(self._heartbeat, expires / 2) * 1e9),
        }

    async def _pump_credit(self) -> None:
        # Slots came back to the pool: ask for what they allow.
        while True:
            await self._released.wait()
            self._released.clear()
            with contextlib.suppress(Exception):  # a broken connection is renewed when it is back
                await self._top_up()

    async def _watch(self) -> None:
        # Requests vanish when the server restarts or the connection drops; heartbeats stop then.
        while True:
            await asyncio.sleep(self._heartbeat)
            silent = time.monotonic() - self._last_activity
            if self._outstanding > 0 and silent > 2 * self._heartbeat + 1:
                logger.info("pull %s: no heartbeat for %.0fs; pulling again", self._next_subject, silent)
                await self.renew()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _pending(msg: Msg) -> int:
    """Messages the consumer still had for others after this one, from its ack subject."""
    try:
        return delivery(msg).num_pending
    except Exception:  # not a JetStream delivery: nothing known behind it
        return 0
