"""An execution as the caller's tenant may see it: another tenant's is as absent as a missing one.

Right after a start the store may not have folded the execution yet; when its events are already on
the bus, the read waits (up to JAMJET_GATEWAY_READ_WAIT_SECS) for the store to catch up, so a client
that starts and then reads sees its execution.
"""

from __future__ import annotations

import asyncio

from nats.js.errors import NotFoundError as StreamNotFound

from jamjet_client.errors import NotFound, Unavailable
from jamjet_client.replies import Execution
from jamjet_common import streams, subjects
from services.gateway.errors import unknown_execution
from services.gateway.http import Call
from services.gateway.ids import execution_id

CATCH_UP_POLL_SECS = 0.02


async def owned_execution(call: Call, raw_id: str) -> Execution:
    eid = execution_id(raw_id)
    try:
        execution = await call.client.execution(eid)
    except NotFound:
        execution = await _caught_up(call, eid, raw_id)
    if execution.tenant != call.tenant:
        raise unknown_execution(raw_id)
    return execution


async def on_bus(call: Call, eid: str) -> bool:
    """Whether the caller's tenant has events of ``eid`` in the EVENTS stream."""
    try:
        await call.backend.js.get_last_msg(streams.EVENTS, subjects.events(call.tenant, eid))
    except StreamNotFound:
        return False
    return True


async def _caught_up(call: Call, eid: str, raw_id: str) -> Execution:
    if not await on_bus(call, eid):
        raise unknown_execution(raw_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + call.backend.config.read_wait_secs
    while loop.time() < deadline:
        await asyncio.sleep(CATCH_UP_POLL_SECS)
        try:
            return await call.client.execution(eid)
        except NotFound:
            continue
    raise Unavailable("store_unavailable", f"execution {raw_id!r} is not stored yet; try again")
