"""What the web console follows beyond one execution: which of the tenant's executions changed, and
an execution's trace id.

``GET /stream/executions`` is an SSE stream of ``changed`` messages, each naming the executions that
got events in the last ``COALESCE_SECS`` with their newest event kind, so a page showing hundreds of
running executions gets a few messages a second, not one per event. It is a plain NATS subscription
to the tenant's event subjects: a hint to re-read, never the record (the list is re-read from the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import msgspec
import nats.js.errors
from nats.aio.msg import Msg
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response

from jamjet_common import streams, subjects
from services.gateway.http import Call, json_response
from services.gateway.reads import owned_execution

COALESCE_SECS = 0.25
TRACEPARENT = "traceparent"


class _Head(msgspec.Struct, frozen=True):
    kind: dict[str, object]


async def follow_executions(call: Call) -> Response:
    ping = int(max(call.backend.config.sse_ping_secs, 1))
    return EventSourceResponse(_changes(call), ping=ping)


async def _changes(call: Call) -> AsyncIterator[ServerSentEvent]:
    changed: dict[str, str] = {}
    woken = asyncio.Event()

    async def on_event(msg: Msg) -> None:
        _, execution_id = subjects.parse_events_subject(msg.subject)
        changed[execution_id] = _kind(msg.data)
        woken.set()

    sub = await call.client.nc.subscribe(subjects.tenant_events(call.tenant), cb=on_event)
    try:
        yield ServerSentEvent(data="{}", event="ready")
        while True:
            await woken.wait()
            await asyncio.sleep(COALESCE_SECS)  # gather what else arrives: one message per window
            woken.clear()
            batch = [{"execution_id": e, "kind": k} for e, k in changed.items()]
            changed.clear()
            yield ServerSentEvent(data=json.dumps({"executions": batch}), event="changed")
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


def _kind(data: bytes) -> str:
    try:
        return str(msgspec.json.decode(data, type=_Head).kind.get("type", ""))
    except msgspec.DecodeError:
        return ""


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
