"""Lists across a tenant's executions, for the web console: approvals waiting, dead letters, workflows.

Each is the caller's tenant only. Decode dead letters (messages that could not be read) name no tenant
when the message was unreadable, so no tenant sees them; operators read them on the bus.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from jamjet_common import streams, subjects
from jamjet_common.bucket import snapshot
from jamjet_common.catalog import check_workflow_id
from services.gateway import params
from services.gateway.executions import MAX_PAGE
from services.gateway.http import Call, json_response

APPROVAL_STATUSES = ("pending", "approved", "rejected", "closed", "all")
DEAD_LETTER_KINDS = ("work", "decode")


async def list_approvals(call: Call) -> Response:
    page = await call.client.approvals(
        tenant=call.tenant,
        status=params.choice(call.request, "status", APPROVAL_STATUSES) or "pending",
        limit=params.integer(call.request, "limit", 100, 1, MAX_PAGE),
        after=params.text(call.request, "after"),
    )
    return json_response(page)


async def list_dead_letters(call: Call) -> Response:
    execution_id = params.text(call.request, "execution_id")
    if execution_id is not None:
        subjects.check_token(execution_id, "execution_id")
    page = await call.client.dead_letters(
        tenant=call.tenant,
        execution_id=execution_id,
        kind=params.choice(call.request, "kind", DEAD_LETTER_KINDS),
        limit=params.integer(call.request, "limit", 100, 1, MAX_PAGE),
        after=params.text(call.request, "after"),
    )
    return json_response(page)


async def list_workflows(call: Call) -> Response:
    """Every registered version of the tenant's workflows, newest registration first, with its IR and
    the warnings its registration gave (records written before warnings existed have none)."""
    # One read of the tenant's keys, values included (``bucket.snapshot``): ``kv.keys()`` could end
    # before the keys arrived and list none, and each key's ``get`` was a round trip more.
    entries = await snapshot(call.backend.js, streams.KV_WORKFLOWS, f"{call.tenant}.>")
    found = [record for value in entries.values() if (record := _record(value, call.tenant))]
    found.sort(key=lambda r: str(r.get("registered_at", "")), reverse=True)
    return json_response({"workflows": found})


def _record(stored: bytes, tenant: str) -> dict[str, Any] | None:
    """The version record stored, or None for the other keys (the latest-version pointers)."""
    try:
        value = msgspec.json.decode(stored or b"null")
    except msgspec.DecodeError:
        return None
    if not isinstance(value, dict) or value.get("tenant") != tenant or "ir" not in value:
        return None
    return value | {"warnings": value.get("warnings") or []}


async def get_workflow(call: Call) -> Response:
    workflow_id = check_workflow_id(call.param("workflow_id"))
    version = params.text(call.request, "version")
    return json_response(await call.client.workflow(workflow_id, version=version, tenant=call.tenant))
