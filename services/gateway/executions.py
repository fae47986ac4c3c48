"""Workflows and executions: register, start, list, read, cancel, approve, send external events."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from jamjet_client.replies import Approval, Execution
from jamjet_common.catalog import check_workflow_id
from jamjet_common.messages import EXECUTION_STATUSES
from services.gateway import params
from services.gateway.bodies import ApproveBody, CancelBody, ExternalEventBody, StartBody, WorkflowBody
from services.gateway.http import Call, json_response
from services.gateway.ids import execution_id
from services.gateway.reads import owned_execution

MAX_PAGE = 1000
MAX_OFFSET = 100_000


async def register_workflow(call: Call) -> Response:
    body = await call.body(WorkflowBody)
    registered = await call.client.register(body.ir, tenant=call.tenant)
    return json_response(registered, 201)


async def start_execution(call: Call) -> Response:
    body = await call.body(StartBody)
    started = await call.client.start(
        body.workflow_id,
        body.input,
        version=body.workflow_version,
        execution_id=execution_id(body.execution_id) if body.execution_id else None,
        tenant=call.tenant,
        # Unanswered attempts are repeated (same id) for a while, not as long as a NATS client would.
        deadline_secs=2 * call.backend.config.request_timeout_secs,
    )
    return json_response(started, 201)


async def list_executions(call: Call) -> Response:
    request = call.request
    limit = params.integer(request, "limit", 50, 1, MAX_PAGE)
    offset = params.integer(request, "offset", 0, 0, MAX_OFFSET)
    status = params.choice(request, "status", EXECUTION_STATUSES)
    workflow_id = params.text(request, "workflow_id")
    if workflow_id is not None:
        check_workflow_id(workflow_id)
    found: list[Execution] = []
    skip, cursor = offset, params.text(request, "after")
    while True:
        page = await call.client.executions(
            status=status,
            workflow_id=workflow_id,
            tenant=call.tenant,
            limit=min(MAX_PAGE, skip + limit - len(found)),
            after=cursor,
        )
        dropped = min(skip, len(page.executions))
        skip -= dropped
        found += page.executions[dropped:][: limit - len(found)]
        cursor = page.next
        if len(found) >= limit or cursor is None:
            return json_response({"executions": found, "next": cursor})


async def get_execution(call: Call) -> Response:
    return json_response(await owned_execution(call, call.param("execution_id")))


async def cancel_execution(call: Call) -> Response:
    body = await call.body(CancelBody, optional=True)
    eid = await _owned_id(call)
    cancelled = await call.client.cancel(eid, reason=body.reason, tenant=call.tenant)
    return json_response(cancelled)


async def approve(call: Call) -> Response:
    body = await call.body(ApproveBody)
    accepted = await call.client.approve(
        await _owned_id(call),
        body.decision,
        user_id=body.user_id,
        node_id=body.node_id,
        comment=body.comment,
        state_patch=body.state_patch,
        tenant=call.tenant,
    )
    return json_response(accepted)


async def list_approvals(call: Call) -> Response:
    execution = await owned_execution(call, call.param("execution_id"))
    pending: list[dict[str, Any]] = []
    decided: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await call.client.approvals(
            execution_id=execution.execution_id,
            tenant=call.tenant,
            status="all",
            limit=MAX_PAGE,
            after=cursor,
        )
        for approval in page.approvals:
            (pending if approval.status == "pending" else decided).append(_approval(approval))
        cursor = page.next
        if cursor is None:
            return json_response({"pending": pending, "decided": decided})


def _approval(approval: Approval) -> dict[str, Any]:
    """The original's two shapes: a pending request, and a decided (or closed) one."""
    if approval.status == "pending":
        return {
            "node_id": approval.node_id,
            "tool_name": approval.tool_name,
            "approver": approval.approver,
            "context": approval.context,
            "sequence": approval.requested_seq,
        }
    decided = {
        "node_id": approval.node_id,
        "status": approval.status,
        "user_id": approval.user_id,
        "sequence": approval.decided_seq,
    }
    return decided | ({"comment": approval.comment} if approval.comment else {})


async def external_event(call: Call) -> Response:
    body = await call.body(ExternalEventBody)
    accepted = await call.client.signal(
        await _owned_id(call), body.correlation_key, body.payload, tenant=call.tenant
    )
    return json_response(accepted)


async def _owned_id(call: Call) -> str:
    """The id of an execution of the caller's tenant. Checked here, before the command, because the
    scheduler answers a command for a live execution whatever tenant the command names."""
    return (await owned_execution(call, call.param("execution_id"))).execution_id
