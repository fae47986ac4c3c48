"""An execution's events in order, from a sequence on, read from the store and then followed live.

The live subscription opens first; everything up to the last event on the bus at that moment is read
from the store (waiting for the store to catch up if it lags), the rest arrives live. An event that
arrives ahead of the next expected sequence is filled in from the store, so the caller sees 1, 2, 3...
without gap or repeat.

A tenant's connection may not read the stream (its NATS account has no JetStream): it cannot know the
last event on the bus, so while nothing arrives live it reads the store again every ``STORE_POLL_SECS``,
which finds whatever was published before the subscription once the store has it.

With ``from_stream`` a connection that may read the EVENTS stream replays the execution's events from
it instead (an ordered consumer filtered to its subject): what the stream stored, then each new event as
it is stored. The store folds events some milliseconds to tens of milliseconds later, and a follower that
joins a running execution would otherwise wait for it to catch up (the gateway's SSE followers). The
store still fills what the stream no longer holds (its age and size limits). Either way a follow ends
only once the store holds its terminal event (handed out first when it arrived live), so readers of the
store after ``result()``, or after an SSE stream's end, see the final status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.js.api import DeliverPolicy
from nats.js.errors import Error as JetStreamError
from nats.js.errors import NotFoundError as StreamNotFoundError
from nats.js.errors import ServiceUnavailableError

from jamjet_client.errors import NotFound, Unavailable
from jamjet_client.replies import EventsPage
from jamjet_common import streams, subjects
from jamjet_common.events import EVENT_DECODER, HEAD_DECODER, TERMINAL_WORKFLOW_KINDS, Event

PageReader = Callable[[int], Awaitable[EventsPage]]
GAP_RETRY_SECS = 0.02
STORE_POLL_SECS = 0.5
STORE_CATCH_UP_SECS = 10.0
"""How long a follow, its terminal event handed out live, waits for the store to hold it."""


def is_terminal(event: Event) -> bool:
    return isinstance(event.kind, TERMINAL_WORKFLOW_KINDS)


async def follow(
    nc: Client,
    tenant: str,
    execution_id: str,
    read_page: PageReader,
    from_sequence: int = 1,
    *,
    from_stream: bool = False,
) -> AsyncIterator[Event]:
    """Every event from ``from_sequence`` until (and including) the terminal one."""
    live: asyncio.Queue[Event] = asyncio.Queue()

    async def on_msg(msg: Msg) -> None:
        try:
            live.put_nowait(EVENT_DECODER.decode(msg.data))
        except (msgspec.DecodeError, msgspec.ValidationError):
            return  # the store holds it too; a gap makes the follower read it from there

    subject = subjects.events(tenant, execution_id)
    sub = await replay(nc, subject, on_msg) if from_stream else None
    replayed = sub is not None
    sub = sub or await nc.subscribe(subject, cb=on_msg)
    try:
        # Without the replay, whatever was published before the subscription is not coming live: read
        # it from the store, waiting for the store to catch up with the bus if it must.
        head = 0 if replayed else await last_on_bus(nc, tenant, execution_id)
        poll, on_bus = (None, head) if head is not None else (STORE_POLL_SECS, 0)
        expected, read_store = max(from_sequence, 1), not replayed
        while True:
            if read_store:
                async for event in _stored(read_page, expected):
                    yield event
                    expected = event.sequence + 1
                    if is_terminal(event):
                        return
                if expected <= on_bus:
                    await asyncio.sleep(GAP_RETRY_SECS)
                    continue
                read_store = False
            try:
                event = await asyncio.wait_for(live.get(), poll)
            except TimeoutError:
                read_store = True  # the bus's last sequence is unknown: look for what the store has now
                continue
            if event.sequence > expected:
                # Ahead of the store: put it back and read what is missing once the store has it.
                live.put_nowait(event)
                read_store = True
                await asyncio.sleep(GAP_RETRY_SECS)
            elif event.sequence == expected:
                yield event
                expected += 1
                if is_terminal(event):
                    await _store_holds(read_page, event.sequence)
                    return
            elif is_terminal(event):
                return  # replayed: it ended before ``from_sequence``
    finally:
        await sub.unsubscribe()


async def replay(nc: Client, subject: str, on_msg: Callable[[Msg], Awaitable[None]]) -> Subscription | None:
    """The subject's events from the EVENTS stream, from the first, then live; None when this
    connection may not read the stream (a tenant's account has no JetStream)."""
    try:
        return await nc.jetstream().subscribe(
            subject, stream=streams.EVENTS, cb=on_msg, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
    except (NoRespondersError, TimeoutError, JetStreamError):
        return None


async def last_on_bus(nc: Client, tenant: str, execution_id: str) -> int | None:
    """The sequence of the execution's last event in the EVENTS stream (0: none there; None: this
    connection may not read the stream)."""
    try:
        subject = subjects.events(tenant, execution_id)
        msg = await nc.jetstream().get_last_msg(streams.EVENTS, subject, direct=True)
    except StreamNotFoundError:
        return 0
    except (NoRespondersError, ServiceUnavailableError, TimeoutError):
        return None
    return HEAD_DECODER.decode(msg.data or b"").sequence


async def _stored(read_page: PageReader, from_sequence: int) -> AsyncIterator[Event]:
    """The stored events from ``from_sequence``; none yet for an execution the store has not seen."""
    sequence = from_sequence
    while True:
        try:
            page = await read_page(sequence)
        except NotFound:
            return
        except Unavailable:
            # The store is slow or restarting: a follower waits for it rather than giving up.
            await asyncio.sleep(STORE_POLL_SECS)
            continue
        for event in page.events:
            yield event
        if not page.has_more or not page.events:
            return
        sequence = page.next_sequence


async def _store_holds(read_page: PageReader, sequence: int) -> None:
    """Wait (bounded) until the store holds event ``sequence`` (it arrived live, or replayed from the
    stream); at once when no store answers."""
    deadline = asyncio.get_running_loop().time() + STORE_CATCH_UP_SECS
    while asyncio.get_running_loop().time() < deadline:
        try:
            page = await read_page(sequence)
        except NotFound:
            page = None
        except Unavailable:
            return  # no store to wait for: the stream's copy is all a reader can have
        if page is not None and any(e.sequence == sequence for e in page.events):
            return
        await asyncio.sleep(GAP_RETRY_SECS)
