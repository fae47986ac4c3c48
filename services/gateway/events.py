"""An execution's events: one JSON page, or Server-Sent Events followed live until the terminal one.

A follower resumes with ``Last-Event-ID`` (the last sequence it saw) or ``from_sequence``; every SSE
message carries the event's sequence as its id and the event kind as its name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response

from jamjet_client.replies import Execution
from jamjet_common.codec import ENCODER
from jamjet_common.errors import JamjetError
from jamjet_common.events import Event
from jamjet_common.messages import EXECUTION_STATUSES
from services.gateway import params
from services.gateway.http import Call, json_response
from services.gateway.reads import followed_execution, owned_execution

MAX_EVENTS = 10_000
"""Events in one JSON reply; the rest are a ``from_sequence`` away (``has_more``)."""
MAX_SEQUENCE = 2**63 - 1
TERMINAL_STATUSES = frozenset(EXECUTION_STATUSES[3:])


def first_sequence(call: Call) -> int:
    last_seen = call.request.headers.get("last-event-id", "").strip()
    if last_seen.isdigit() and int(last_seen) < MAX_SEQUENCE:
        return int(last_seen) + 1
    return params.integer(call.request, "from_sequence", 1, 1, MAX_SEQUENCE)


async def get_events(call: Call) -> Response:
    if params.flag(call.request, "follow"):
        eid, stored = await followed_execution(call, call.param("execution_id"))
        followed = _follow(call, eid, stored, first_sequence(call))
        return EventSourceResponse(followed, ping=int(max(call.backend.config.sse_ping_secs, 1)))
    execution = await owned_execution(call, call.param("execution_id"))
    start = first_sequence(call)
    limit = params.integer(call.request, "limit", MAX_EVENTS, 1, MAX_EVENTS)
    events: list[Event] = []
    sequence, more = start, True
    while more and len(events) < limit:
        page = await call.client.events_page(execution.execution_id, sequence, min(1000, limit - len(events)))
        events += page.events
        sequence, more = page.next_sequence, page.has_more and bool(page.events)
    return json_response({"events": events, "next_sequence": sequence, "has_more": more})


async def _follow(
    call: Call, execution_id: str, stored: Execution | None, start: int
) -> AsyncIterator[ServerSentEvent]:
    if stored and stored.status in TERMINAL_STATUSES and start > stored.last_sequence:
        return  # resumed after the end: nothing more will come
    try:
        events = call.client.events(execution_id, from_sequence=start, tenant=call.tenant, from_stream=True)
        async for event in events:
            yield ServerSentEvent(
                data=ENCODER.encode(event).decode(), id=str(event.sequence), event=event.kind.tag
            )
    except JamjetError as exc:
        # The status line has gone out already: the failure travels as an ``error`` event, and the
        # client resumes from its last id.
        yield ServerSentEvent(
            data=ENCODER.encode({"code": exc.code, "message": exc.message}).decode(), event="error"
        )
