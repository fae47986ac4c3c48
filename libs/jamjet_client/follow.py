"""An execution's events in order, from a sequence on, read from the store and then followed live.

The live subscription opens first; everything up to the last event on the bus at that moment is read
from the store (waiting for the store to catch up if it lags), the rest arrives live. An event that
arrives ahead of the next expected sequence is filled in from the store, so the caller sees 1, 2, 3...
without gap or repeat.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError as StreamNotFoundError

from jamjet_client.errors import NotFound
from jamjet_client.replies import EventsPage
from jamjet_common import streams, subjects
from jamjet_common.events import EVENT_DECODER, HEAD_DECODER, TERMINAL_WORKFLOW_KINDS, Event

PageReader = Callable[[int], Awaitable[EventsPage]]
GAP_RETRY_SECS = 0.02


def is_terminal(event: Event) -> bool:
    return isinstance(event.kind, TERMINAL_WORKFLOW_KINDS)


async def follow(
    nc: Client, tenant: str, execution_id: str, read_page: PageReader, from_sequence: int = 1
) -> AsyncIterator[Event]:
    """Every event from ``from_sequence`` until (and including) the terminal one."""
    live: asyncio.Queue[Event] = asyncio.Queue()

    async def on_msg(msg: Msg) -> None:
        try:
            live.put_nowait(EVENT_DECODER.decode(msg.data))
        except (msgspec.DecodeError, msgspec.ValidationError):
            return  # the store holds it too; a gap makes the follower read it from there

    sub = await nc.subscribe(subjects.events(tenant, execution_id), cb=on_msg)
    try:
        # Whatever was published before the subscription is not coming live: read it from the store,
        # waiting for the store to catch up with the bus if it must.
        on_bus = await last_on_bus(nc, tenant, execution_id)
        expected, read_store = max(from_sequence, 1), True
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
            event = await live.get()
            if event.sequence > expected:
                # Ahead of the store: put it back and read what is missing once the store has it.
                live.put_nowait(event)
                read_store = True
                await asyncio.sleep(GAP_RETRY_SECS)
            elif event.sequence == expected:
                yield event
                expected += 1
                if is_terminal(event):
                    return
    finally:
        await sub.unsubscribe()


async def last_on_bus(nc: Client, tenant: str, execution_id: str) -> int:
    """The sequence of the execution's last event in the EVENTS stream (0: none there)."""
    try:
        subject = subjects.events(tenant, execution_id)
        msg = await nc.jetstream().get_last_msg(streams.EVENTS, subject, direct=True)
    except StreamNotFoundError:
        return 0
    return HEAD_DECODER.decode(msg.data or b"").sequence


async def _stored(read_page: PageReader, from_sequence: int) -> AsyncIterator[Event]:
    """The stored events from ``from_sequence``; none yet for an execution the store has not seen."""
    sequence = from_sequence
    while True:
        try:
            page = await read_page(sequence)
        except NotFound:
            return
        for event in page.events:
            yield event
        if not page.has_more or not page.events:
            return
        sequence = page.next_sequence
