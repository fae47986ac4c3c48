"""An execution as the caller's tenant may see it: another tenant's is as absent as a missing one.

Right after a start the store may not have folded the execution yet; when its events are already on
the bus, the read waits (up to JAMJET_GATEWAY_READ_WAIT_SECS) for the store to catch up, so a client
that starts and then reads sees its execution.
"""

from __future__ import annotations

import asyncio

from jamjet_client.errors import NotFound, Unavailable
from jamjet_client.follow import last_on_bus
from jamjet_client.replies import Execution
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


async def followed_execution(call: Call, raw_id: str) -> tuple[str, Execution | None]:
    """The id of an execution of the caller's tenant to follow, with its stored state when the store
    was asked. Events on the tenant's own subject make it theirs without asking the store (a Postgres
    read that lags the stream right after a start); the follow replays them from the stream."""
    eid = execution_id(raw_id)
    if await last_on_bus(call.client.nc, call.tenant, eid):
        return eid, None
    execution = await owned_execution(call, raw_id)
    return execution.execution_id, execution


async def _caught_up(call: Call, eid: str, raw_id: str) -> Execution:
    if not await last_on_bus(call.client.nc, call.tenant, eid):
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
