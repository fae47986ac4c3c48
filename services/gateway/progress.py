"""Live agent_tool progress (``jamjet.progress.<tenant>.<execution_id>``) as Server-Sent Events.

Chunks come from the JAMJET_PROGRESS stream, so a late or resuming client (``Last-Event-ID`` = the
stream sequence of the last chunk seen) gets what it missed. The stream ends once the execution has
ended and the chunks stored before that are delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response

from jamjet_client import is_terminal
from jamjet_client.replies import Execution
from jamjet_common import streams, subjects
from services.gateway.events import TERMINAL_STATUSES
from services.gateway.http import Call
from services.gateway.reads import owned_execution

DRAIN_SECS = 0.5
"""After the execution ended: how long to wait for chunks still on their way."""


class _Tagged(msgspec.Struct, frozen=True):
    type: str = "progress"


async def get_progress(call: Call) -> Response:
    execution = await owned_execution(call, call.param("execution_id"))
    last_seen = call.request.headers.get("last-event-id", "").strip()
    start = int(last_seen) + 1 if last_seen.isdigit() and len(last_seen) < 19 else 1
    ping = int(max(call.backend.config.sse_ping_secs, 1))
    return EventSourceResponse(_chunks(call, execution, start), ping=ping)


async def _chunks(call: Call, execution: Execution, start: int) -> AsyncIterator[ServerSentEvent]:
    queue: asyncio.Queue[Msg] = asyncio.Queue()
    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
    subject = subjects.progress(call.tenant, execution.execution_id)
    sub = await call.backend.js.subscribe(
        subject, stream=streams.PROGRESS, cb=queue.put, ordered_consumer=True, config=config
    )
    ended = asyncio.create_task(_ended(call, execution))
    try:
        while (msg := await _next(queue, ended)) is not None:
            yield _sse(msg)
            if ended.done() and msg.metadata.num_pending == 0:
                return
    finally:
        ended.cancel()
        with contextlib.suppress(BaseException):
            await ended  # its failure (the store unreachable) only ends the stream early
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def _ended(call: Call, execution: Execution) -> None:
    if execution.status in TERMINAL_STATUSES:
        return
    events = call.client.events(
        execution.execution_id, from_sequence=max(execution.last_sequence, 1), tenant=call.tenant
    )
    async for event in events:
        if is_terminal(event):
            return


async def _next(queue: asyncio.Queue[Msg], ended: asyncio.Task[None]) -> Msg | None:
    while not ended.done():
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait({getter, ended}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
    try:
        return await asyncio.wait_for(queue.get(), DRAIN_SECS)
    except TimeoutError:
        return None


def _sse(msg: Msg) -> ServerSentEvent:
    try:
        name = msgspec.json.decode(msg.data, type=_Tagged).type
    except msgspec.DecodeError:
        name = "progress"
    return ServerSentEvent(
        data=msg.data.decode(errors="replace"), id=str(msg.metadata.sequence.stream), event=name
    )
