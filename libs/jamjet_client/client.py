"""The typed async client of the runtime over NATS: commands, store queries, event following."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from nats.aio.client import Client

from jamjet_client.admin import Agents, Tenants
from jamjet_client.errors import RequestError, Unavailable
from jamjet_client.follow import follow, is_terminal
from jamjet_client.loading import Workflowish, load_ir
from jamjet_client.replies import (
    ApprovalAccepted,
    ApprovalsPage,
    Artifact,
    Cancelled,
    DeadLettersPage,
    EventsPage,
    Execution,
    ExecutionReply,
    ExecutionsPage,
    Registered,
    SignalAccepted,
    Started,
    Workflow,
    WorkflowReply,
)
from jamjet_client.transport import ask, decode, send
from jamjet_common import subjects
from jamjet_common.artifacts import ArtifactQuery
from jamjet_common.asking import REQUEST_ID_HEADER
from jamjet_common.catalog import check_workflow_id
from jamjet_common.events import Event
from jamjet_common.messages import (
    DEFAULT_TENANT,
    ApprovalsQuery,
    CancelExecution,
    DeadLettersQuery,
    EventsQuery,
    ExecutionQuery,
    ExecutionsQuery,
    RegisterWorkflow,
    SendSignal,
    StartExecution,
    SubmitApproval,
    TenantUsageQuery,
    WorkflowQuery,
)

START_RETRY_SECS = 0.2


class RuntimeClient:
    """Requests on an open NATS connection, as one tenant (each call may name another)."""

    def __init__(self, nc: Client, *, tenant: str = DEFAULT_TENANT, timeout: float = 10.0) -> None:
        self.nc = nc
        self.tenant = tenant
        self.timeout = timeout
        self.tenants = Tenants(self._ask)
        self.agents = Agents(self._ask, lambda: self.tenant)

    async def _ask[T](
        self, subject: str, body: Any, reply_type: type[T], headers: dict[str, str] | None = None
    ) -> T:
        return await ask(self.nc, subject, body, reply_type, timeout=self.timeout, headers=headers)

    async def request(
        self,
        subject: str,
        body: Any,
        *,
        timeout: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The answer to any request as the runtime sent it, ``ok`` or not: for callers that look at the
        wire reply itself (tests of the contract). ``body`` as bytes is sent unchanged."""
        data = await send(self.nc, subject, body, timeout=timeout or self.timeout, headers=headers)
        return decode(data, subject, dict[str, Any])

    # ---- commands ------------------------------------------------------------------------------------

    async def register(self, workflow: Workflowish, *, tenant: str | None = None) -> Registered:
        """Register an IR dict, a JSON/YAML file's IR, or a ``jamjet`` SDK workflow."""
        ir = msgspec.Raw(msgspec.json.encode(load_ir(workflow)))
        body = RegisterWorkflow(ir=ir, tenant=tenant or self.tenant)
        return await self._ask(subjects.CMD_REGISTER, body, Registered)

    async def start(
        self,
        workflow_id: str,
        input: dict[str, Any] | None = None,
        *,
        version: str | None = None,
        execution_id: str | None = None,
        tenant: str | None = None,
        deadline_secs: float = 60.0,
        headers: dict[str, str] | None = None,
    ) -> Started:
        """Start an execution; unanswered or busy attempts are repeated with the same execution id
        (starting an id twice is idempotent) until an answer or ``deadline_secs``."""
        body = StartExecution(
            workflow_id=check_workflow_id(workflow_id),
            workflow_version=version,
            input=input or {},
            tenant=tenant or self.tenant,
            execution_id=execution_id or subjects.new_execution_id(),
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_secs
        while True:
            try:
                # Each try its own request id: its stored copy answers this try, not one given up on.
                attempt = {**(headers or {}), REQUEST_ID_HEADER: uuid.uuid4().hex}
                return await self._ask(subjects.CMD_START, body, Started, attempt)
            except RequestError as exc:
                if not exc.retryable or loop.time() + START_RETRY_SECS >= deadline:
                    raise
            await asyncio.sleep(START_RETRY_SECS)

    async def cancel(
        self, execution_id: str, *, reason: str | None = None, tenant: str | None = None
    ) -> Cancelled:
        body = CancelExecution(execution_id=execution_id, reason=reason, tenant=tenant or self.tenant)
        return await self._ask(subjects.CMD_CANCEL, body, Cancelled)

    async def approve(
        self,
        execution_id: str,
        decision: str = "approved",
        *,
        user_id: str = "anonymous",
        node_id: str | None = None,
        comment: str | None = None,
        state_patch: dict[str, Any] | None = None,
        tenant: str | None = None,
    ) -> ApprovalAccepted:
        body = {
            "execution_id": execution_id,
            "decision": decision,
            "user_id": user_id,
            "node_id": node_id,
            "comment": comment,
            "state_patch": state_patch,
            "tenant": tenant or self.tenant,
        }
        # Built through the wire struct so a wrong decision fails here, with the contract's message.
        message = msgspec.convert({k: v for k, v in body.items() if v is not None}, SubmitApproval)
        return await self._ask(subjects.CMD_APPROVALS, message, ApprovalAccepted)

    async def signal(
        self, execution_id: str, correlation_key: str, payload: Any = None, *, tenant: str | None = None
    ) -> SignalAccepted:
        body = SendSignal(
            execution_id=execution_id,
            correlation_key=correlation_key,
            payload=payload,
            tenant=tenant or self.tenant,
        )
        return await self._ask(subjects.CMD_SIGNALS, body, SignalAccepted)

    # ---- store queries -------------------------------------------------------------------------------

    async def execution(self, execution_id: str) -> Execution:
        reply = await self._ask(subjects.store("execution"), ExecutionQuery(execution_id), ExecutionReply)
        return reply.execution

    async def executions(
        self,
        *,
        status: str | None = None,
        workflow_id: str | None = None,
        tenant: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> ExecutionsPage:
        query = ExecutionsQuery(
            status=status, tenant=tenant, workflow_id=workflow_id, limit=limit, after=after
        )
        return await self._ask(subjects.store("executions"), query, ExecutionsPage)

    async def events_page(self, execution_id: str, from_sequence: int = 1, limit: int = 1000) -> EventsPage:
        query = EventsQuery(execution_id=execution_id, from_sequence=from_sequence, limit=limit)
        return await self._ask(subjects.store("events"), query, EventsPage)

    async def workflow(
        self, workflow_id: str, *, version: str | None = None, tenant: str | None = None
    ) -> Workflow:
        query = WorkflowQuery(workflow_id=workflow_id, version=version, tenant=tenant or self.tenant)
        return (await self._ask(subjects.store("workflow"), query, WorkflowReply)).workflow

    async def approvals(
        self,
        *,
        execution_id: str | None = None,
        tenant: str | None = None,
        status: str = "pending",
        limit: int = 100,
        after: str | None = None,
    ) -> ApprovalsPage:
        query = ApprovalsQuery(
            execution_id=execution_id, tenant=tenant, status=status, limit=limit, after=after
        )
        return await self._ask(subjects.store("approvals"), query, ApprovalsPage)

    async def dead_letters(
        self,
        *,
        execution_id: str | None = None,
        tenant: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> DeadLettersPage:
        query = DeadLettersQuery(
            execution_id=execution_id, tenant=tenant, kind=kind, limit=limit, after=after
        )
        return await self._ask(subjects.store("dead_letters"), query, DeadLettersPage)

    async def tenant_usage(self, tenant: str | None = None) -> dict[str, Any]:
        query = TenantUsageQuery(tenant=tenant or self.tenant)
        return await self._ask(subjects.store("tenant_usage"), query, dict[str, Any])

    async def artifact(self, digest: str, *, tenant: str | None = None) -> Artifact:
        """A spilled output of the tenant's (another tenant's hash is ``unknown_artifact``)."""
        query = ArtifactQuery(hash=digest, tenant=tenant or self.tenant)
        return await self._ask(subjects.store("artifact"), query, Artifact)

    # ---- following an execution ----------------------------------------------------------------------

    def events(
        self,
        execution_id: str,
        *,
        from_sequence: int = 1,
        tenant: str | None = None,
        from_stream: bool = False,
    ) -> AsyncIterator[Event]:
        """The execution's events from ``from_sequence`` in order, live, ending after the terminal one.
        ``from_stream``: as the EVENTS stream stores them, not waiting for the store (see follow.py)."""

        async def read_page(sequence: int) -> EventsPage:
            return await self.events_page(execution_id, sequence)

        tenant = tenant or self.tenant
        return follow(self.nc, tenant, execution_id, read_page, from_sequence, from_stream=from_stream)

    async def result(
        self, execution_id: str, *, timeout: float | None = None, tenant: str | None = None
    ) -> Event:
        """The execution's terminal event (completed, failed or cancelled)."""
        async with asyncio.timeout(timeout):
            async for event in self.events(execution_id, tenant=tenant):
                if is_terminal(event):
                    return event
        raise Unavailable("internal_error", f"the events of {execution_id} ended without a terminal event")
