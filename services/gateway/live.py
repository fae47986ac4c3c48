"""What the web console follows beyond one execution: which of the tenant's executions changed, and
an execution's trace id.

``GET /stream/executions`` is an SSE stream of ``changed`` messages, each naming the executions that
got events in the last ``COALESCE_SECS`` with their newest event kind and sequence, so a page showing
hundreds of running executions gets a few messages a second, not one per event. It is a plain NATS
subscription to the tenant's event subjects. When an execution's row changed in a way the page cannot
derive from an event (it started, ended, paused or resumed: ``ROW_KINDS``), and the first time the
stream names an execution, the message also carries the stored row, read once the store has folded that
event, so the page patches or places that row instead of re-reading its whole list; node events only
advance the row's sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
import nats.js.errors
from nats.aio.msg import Msg
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response

from jamjet_client.replies import Execution
from jamjet_common import streams, subjects
from jamjet_common.codec import ENCODER
from jamjet_common.errors import JamjetError
from jamjet_common.events import STATUS_KINDS
from services.gateway.http import Call, json_response
from services.gateway.reads import CATCH_UP_POLL_SECS, owned_execution

COALESCE_SECS = 0.25
TRACEPARENT = "traceparent"
ROW_KINDS = frozenset(str(k.__struct_config__.tag) for k in STATUS_KINDS)
# Store reads one stream runs at once: 200 executions starting together must not flood the store.
READS_AT_ONCE = 16
MAX_POLL_SECS = 0.2
NAMED_MAX = 100_000


class _Kind(msgspec.Struct):
    type: str = ""


class _Head(msgspec.Struct):
    """Just the parts of an event the stream needs (the kind's other fields are skipped unread)."""

    sequence: int = 0
    kind: _Kind = msgspec.field(default_factory=_Kind)


_HEAD = msgspec.json.Decoder(_Head)


class _Change(msgspec.Struct):
    """An execution's events in one window: its newest kind and sequence, and whether to send its row."""

    kind: str
    sequence: int
    row: bool


async def follow_executions(call: Call) -> Response:
    ping = int(max(call.backend.config.sse_ping_secs, 1))
    return EventSourceResponse(_changes(call), ping=ping)


async def _changes(call: Call) -> AsyncIterator[ServerSentEvent]:
    changed: dict[str, _Change] = {}
    named: set[str] = set()
    woken = asyncio.Event()

    async def on_event(msg: Msg) -> None:
        _, execution_id = subjects.parse_events_subject(msg.subject)
        _note(changed, execution_id, _head(msg.data), _first(named, execution_id))
        woken.set()

    sub = await call.client.nc.subscribe(subjects.tenant_events(call.tenant), cb=on_event)
    try:
        yield ServerSentEvent(data="{}", event="ready")
        while True:
            await woken.wait()
            await asyncio.sleep(COALESCE_SECS)  # gather what else arrives: one message per window
            woken.clear()
            window = dict(changed)
            changed.clear()
            batch = await _batch(call, window)
            yield ServerSentEvent(data=ENCODER.encode({"executions": batch}).decode(), event="changed")
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


def _head(data: bytes) -> _Head:
    try:
        return _HEAD.decode(data)
    except msgspec.DecodeError:
        return _Head()


def _first(named: set[str], execution_id: str) -> bool:
    """Whether the stream names this execution for the first time. Then it sends its row, whatever the
    event: one that started before the page listened (or before the store had it when the page read
    its list) is otherwise unknown to the page, which could not place it. Forgetting them all past
    NAMED_MAX costs one more read of each, not a wrong row."""
    if execution_id in named:
        return False
    if len(named) >= NAMED_MAX:
        named.clear()
    named.add(execution_id)
    return True


def _note(changed: dict[str, _Change], execution_id: str, head: _Head, first: bool) -> None:
    """Keep the newest kind and sequence; a row-changing kind anywhere in the window sends the row."""
    row = first or head.kind.type in ROW_KINDS
    was = changed.get(execution_id)
    if was is not None and was.sequence > head.sequence:
        was.row = was.row or row
        return
    changed[execution_id] = _Change(head.kind.type, head.sequence, row or (was is not None and was.row))


async def _batch(call: Call, window: dict[str, _Change]) -> list[dict[str, object]]:
    gate = asyncio.Semaphore(READS_AT_ONCE)

    async def entry(execution_id: str, change: _Change) -> dict[str, object]:
        found: dict[str, object] = {
            "execution_id": execution_id,
            "kind": change.kind,
            "sequence": change.sequence,
        }
        if change.row:
            async with gate:
                found["execution"] = await _stored(call, execution_id, change.sequence)
        return found

    return list(await asyncio.gather(*(entry(e, c) for e, c in window.items())))


async def _stored(call: Call, execution_id: str, sequence: int) -> Execution | None:
    """The stored row once the store has folded ``sequence`` (it trails the bus a little); after
    JAMJET_GATEWAY_READ_WAIT_SECS, what it has; None when it has nothing or cannot answer (the page
    then re-reads its list)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + call.backend.config.read_wait_secs
    pause = CATCH_UP_POLL_SECS
    while True:
        try:
            execution = await call.client.execution(execution_id)
        except JamjetError:
            execution = None
        late = loop.time() >= deadline
        if late or (execution is not None and execution.last_sequence >= sequence):
            return execution
        await asyncio.sleep(pause)
        pause = min(pause * 2, MAX_POLL_SECS)  # a store far behind is asked less often


async def get_trace(call: Call) -> Response:
    """The execution's trace id: from the ``traceparent`` stored with its first event, if any."""
    execution = await owned_execution(call, call.param("execution_id"))
    subject = subjects.events(execution.tenant, execution.execution_id)
    try:
        first = await call.backend.js.get_msg(streams.EVENTS, seq=1, subject=subject, next=True)
    except nats.js.errors.NotFoundError:
        return json_response({"trace_id": None})
    parent = (first.headers or {}).get(TRACEPARENT, "")
    parts = parent.split("-")
    trace_id = parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None
    return json_response({"trace_id": trace_id})
