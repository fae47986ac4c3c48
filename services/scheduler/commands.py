"""The scheduler's commands: register a workflow, start and cancel executions."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from jamjet_common import subjects
from jamjet_common.codec import decode, error_reply, ok_reply
from jamjet_common.errors import (
    AppendConflictError,
    ConflictError,
    ContractError,
    JamjetError,
    UnknownExecutionError,
)
from jamjet_common.eventlog import EMPTY, Appended
from jamjet_common.events import ApprovalReceived, ExternalEventReceived, WorkflowCancelled, WorkflowStarted
from jamjet_common.messages import (
    CancelExecution,
    RegisterWorkflow,
    SendSignal,
    StartExecution,
    SubmitApproval,
)
from jamjet_common.tenancy import bind_tenant
from services.scheduler import tracing
from services.scheduler.catalog import WorkflowCatalog
from services.scheduler.executions import Executions
from services.scheduler.lanes import run_in_lane
from services.scheduler.progress import Progress
from services.scheduler.tenancy import TenantGate
from services.scheduler.timers import Timers

logger = logging.getLogger(__name__)
COMMAND_NAMESPACE = uuid.UUID("0b6f7c9e-4a8e-5d35-9c61-2f8e1d7a3b42")


def _pending_node(progress: Progress, node_id: str | None) -> str:
    pending = sorted(progress.held)
    if not pending:
        raise ConflictError(
            f"execution '{progress.execution_id}' has no approval pending", code="nothing_pending"
        )
    if node_id is not None:
        if node_id not in progress.held:
            raise ConflictError(
                f"node '{node_id}' is not waiting for approval (pending: {', '.join(pending)})",
                code="not_pending",
            )
        return node_id
    if len(pending) > 1:
        raise ContractError(
            f"several approvals are pending ({', '.join(pending)}); name the node_id",
            code="approval_ambiguous",
        )
    return pending[0]


def _generated_id(command_key: str | None) -> str:
    # Derived from the stored command, so that a redelivered start (the scheduler died before its
    # ack) finds the execution it already started instead of starting a second one.
    if command_key is None:
        return subjects.new_execution_id()
    return f"exec_{uuid.uuid5(COMMAND_NAMESPACE, command_key).hex}"


class Commands:
    def __init__(
        self,
        catalog: WorkflowCatalog,
        executions: Executions,
        tenants: TenantGate,
        timers: Timers,
        max_bytes: int,
    ) -> None:
        self._catalog = catalog
        self._executions = executions
        self._timers = timers
        self._tenants = tenants
        self._max_bytes = max_bytes

    async def handle(
        self,
        subject: str,
        data: bytes,
        command_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Execute one command and return the encoded reply; contract errors become error replies.

        ``headers`` are the command message's: a start's ``traceparent`` parents the execution's trace.
        """
        try:
            subject, data = bind_tenant(subject, data)
            return await self._route(subject, data, command_key, headers)
        except JamjetError as exc:
            logger.info("command %s rejected: %s", subject, exc)
            return error_reply(exc.code, exc.message)

    async def _route(
        self, subject: str, data: bytes, command_key: str | None, headers: Mapping[str, str] | None
    ) -> bytes:
        if subject == subjects.CMD_REGISTER:
            return await self.register(data)
        if subject == subjects.CMD_START:
            return await self.start(data, command_key, headers)
        if subject == subjects.CMD_CANCEL:
            return await self.cancel(data)
        if subject == subjects.CMD_APPROVALS:
            return await self.approve(data)
        if subject == subjects.CMD_SIGNALS:
            return await self.signal(data)
        raise ContractError(f"unknown command subject {subject!r}", code="unknown_command")

    async def register(self, data: bytes) -> bytes:
        cmd = decode(data, RegisterWorkflow, what="register command", max_bytes=self._max_bytes)
        subjects.check_token(cmd.tenant, "tenant")
        await self._tenants.active(cmd.tenant)
        ir, created = await self._catalog.register(cmd.tenant, bytes(cmd.ir))
        logger.info(
            "workflow %s %s registered for %s (new: %s)", ir.workflow_id, ir.version, cmd.tenant, created
        )
        return ok_reply(workflow_id=ir.workflow_id, version=ir.version, created=created)

    async def start(
        self, data: bytes, command_key: str | None = None, headers: Mapping[str, str] | None = None
    ) -> bytes:
        cmd = decode(data, StartExecution, what="start command", max_bytes=self._max_bytes)
        tenant = subjects.check_token(cmd.tenant, "tenant")
        subjects.check_token(cmd.workflow_id, "workflow_id")
        execution_id = subjects.check_token(cmd.execution_id or _generated_id(command_key), "execution_id")
        await self._tenants.admit(tenant)
        if cmd.execution_id is not None:
            await self._check_unused_elsewhere(tenant, execution_id)
        graph = await self._catalog.get(tenant, cmd.workflow_id, cmd.workflow_version)
        version = graph.ir.version
        started = WorkflowStarted(
            workflow_id=cmd.workflow_id, workflow_version=version, initial_input=cmd.input
        )
        try:
            appended = await self._store_start(tenant, execution_id, started, headers)
        except AppendConflictError:
            return await self._already_started(tenant, execution_id, cmd.workflow_id, version)
        self._executions.seed(tenant, execution_id, appended)
        if graph.workflow_timeout_secs is not None:
            await self._timers.schedule(
                tenant, execution_id, graph.workflow_timeout_secs, appended.event.created_at
            )
        logger.info("%s: started %s %s for %s", execution_id, cmd.workflow_id, version, tenant)
        return ok_reply(
            execution_id=execution_id, workflow_id=cmd.workflow_id, workflow_version=version, created=True
        )

    async def _store_start(
        self, tenant: str, execution_id: str, started: WorkflowStarted, headers: Mapping[str, str] | None
    ) -> Appended:
        """Append WorkflowStarted with the trace context of the execution's new workflow span."""
        span = tracing.open_workflow_span(
            headers, execution_id, started.workflow_id, started.workflow_version
        )
        log = self._executions.log
        appended = await log.append_after(tenant, execution_id, started, EMPTY, headers=tracing.carrier(span))
        tracing.started(span, tenant, started.workflow_id)
        return appended

    async def _already_started(self, tenant: str, execution_id: str, workflow_id: str, version: str) -> bytes:
        """Starting an existing id again is idempotent, unless it names another workflow."""
        async for event, _ in self._executions.log.read(tenant, execution_id):
            kind = event.kind
            if isinstance(kind, WorkflowStarted) and (kind.workflow_id, kind.workflow_version) == (
                workflow_id,
                version,
            ):
                return ok_reply(
                    execution_id=execution_id,
                    workflow_id=workflow_id,
                    workflow_version=version,
                    created=False,
                )
            break
        raise ConflictError(
            f"execution '{execution_id}' already exists for another workflow or version",
            code="execution_exists",
        )

    async def cancel(self, data: bytes) -> bytes:
        cmd = decode(data, CancelExecution, what="cancel command", max_bytes=self._max_bytes)
        subjects.check_token(cmd.tenant, "tenant")
        subjects.check_token(cmd.execution_id, "execution_id")
        return await run_in_lane(self._executions.lanes, cmd.execution_id, lambda: self._cancel(cmd))

    async def _cancel(self, cmd: CancelExecution) -> bytes:
        for _ in range(50):
            progress = await self._live(cmd.tenant, cmd.execution_id)
            try:
                await self._executions.append(
                    progress, WorkflowCancelled(reason=cmd.reason or "user request")
                )
            except AppendConflictError:
                continue
            logger.info("%s: cancelled", cmd.execution_id)
            return ok_reply(execution_id=cmd.execution_id, status="cancelled")
        raise ConflictError(f"execution '{cmd.execution_id}' is too busy to cancel; try again", code="busy")

    async def approve(self, data: bytes) -> bytes:
        cmd = decode(data, SubmitApproval, what="approval", max_bytes=self._max_bytes)
        subjects.check_token(cmd.tenant, "tenant")
        subjects.check_token(cmd.execution_id, "execution_id")
        if not cmd.user_id.strip():
            raise ContractError("user_id must not be empty", code="invalid_request")
        return await run_in_lane(self._executions.lanes, cmd.execution_id, lambda: self._approve(cmd))

    async def _approve(self, cmd: SubmitApproval) -> bytes:
        for _ in range(50):
            progress = await self._live(cmd.tenant, cmd.execution_id)
            node_id = _pending_node(progress, cmd.node_id)
            decision = ApprovalReceived(
                node_id=node_id,
                user_id=cmd.user_id,
                decision=cmd.decision,
                comment=cmd.comment,
                state_patch=cmd.state_patch,
            )
            try:
                await self._executions.append(progress, decision)
            except AppendConflictError:
                continue
            logger.info("%s/%s: %s by %s", cmd.execution_id, node_id, cmd.decision, cmd.user_id)
            await self._executions.advance(progress)
            return ok_reply(
                execution_id=cmd.execution_id, node_id=node_id, decision=cmd.decision, accepted=True
            )
        raise ConflictError(f"execution '{cmd.execution_id}' is too busy; try again", code="busy")

    async def signal(self, data: bytes) -> bytes:
        cmd = decode(data, SendSignal, what="signal", max_bytes=self._max_bytes)
        subjects.check_token(cmd.tenant, "tenant")
        subjects.check_token(cmd.execution_id, "execution_id")
        if not cmd.correlation_key:
            raise ContractError("correlation_key must not be empty", code="invalid_request")
        return await run_in_lane(self._executions.lanes, cmd.execution_id, lambda: self._signal(cmd))

    async def _signal(self, cmd: SendSignal) -> bytes:
        event = ExternalEventReceived(correlation_key=cmd.correlation_key, payload=cmd.payload)
        for _ in range(50):
            progress = await self._live(cmd.tenant, cmd.execution_id)
            try:
                await self._executions.append(progress, event)
            except AppendConflictError:
                continue
            await self._executions.advance(progress)
            return ok_reply(execution_id=cmd.execution_id, correlation_key=cmd.correlation_key, accepted=True)
        raise ConflictError(f"execution '{cmd.execution_id}' is too busy; try again", code="busy")

    async def _live(self, tenant: str, execution_id: str) -> Progress:
        """The progress of a running execution, or the specific error why there is none."""
        progress = await self._executions.current(tenant, execution_id)
        if progress is None:
            raise UnknownExecutionError(f"execution '{execution_id}' does not exist for tenant '{tenant}'")
        if progress.terminal:
            self._executions.forget(execution_id, finished=True)
            raise ConflictError(
                f"execution '{execution_id}' is already {progress.terminal}", code="execution_terminal"
            )
        return progress

    async def _check_unused_elsewhere(self, tenant: str, execution_id: str) -> None:
        """Execution ids are global (the store keys on them): a client id may not exist in another tenant."""
        owners = await self._executions.log.tenants_of(execution_id)
        if owners - {tenant}:
            raise ConflictError(
                f"execution id '{execution_id}' is already used by another tenant", code="execution_exists"
            )
