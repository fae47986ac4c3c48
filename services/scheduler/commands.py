"""The scheduler's commands: register a workflow, start and cancel executions."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping

from jamjet_common import subjects
from jamjet_common.catalog import check_workflow_id
from jamjet_common.codec import decode, ok_reply
from jamjet_common.errors import (
    AppendConflictError,
    ConflictError,
    ContractError,
    RetryableError,
    UnknownExecutionError,
)
from jamjet_common.eventlog import Appended
from jamjet_common.events import (
    ApprovalReceived,
    EventKind,
    ExternalEventReceived,
    WorkflowCancelled,
    WorkflowStarted,
)
from jamjet_common.messages import (
    CancelExecution,
    RegisterWorkflow,
    SendSignal,
    StartExecution,
    SubmitApproval,
)
from jamjet_common.router import Handler
from services.scheduler import tracing
from services.scheduler.catalog import WorkflowCatalog
from services.scheduler.executions import Executions
from services.scheduler.graph import Graph
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


class StartInDoubtError(RetryableError):
    """A start met one that a stream leader lost before committing it (a leader being elected): it
    passes with the election, so it is tried as long as an outage of the bus is."""

    code = "start_in_doubt"
    outage = True


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

    def routes(self) -> dict[str, Handler]:
        """The command subjects and their handlers, for the router."""
        return {
            subjects.CMD_REGISTER: lambda request: self.register(request.data),
            subjects.CMD_START: lambda request: self.start(request.data, request.key, request.headers),
            subjects.CMD_CANCEL: lambda request: self.cancel(request.data),
            subjects.CMD_APPROVALS: lambda request: self.approve(request.data),
            subjects.CMD_SIGNALS: lambda request: self.signal(request.data),
        }

    async def register(self, data: bytes) -> bytes:
        cmd = decode(data, RegisterWorkflow, what="register command", max_bytes=self._max_bytes)
        subjects.check_token(cmd.tenant, "tenant")
        await self._tenants.active(cmd.tenant)
        done = await self._catalog.register(cmd.tenant, bytes(cmd.ir))
        ir = done.ir
        logger.info(
            "workflow %r %s registered for %s (new: %s)", ir.workflow_id, ir.version, cmd.tenant, done.created
        )
        return ok_reply(
            workflow_id=ir.workflow_id, version=ir.version, created=done.created, warnings=done.warnings
        )

    async def start(
        self, data: bytes, command_key: str | None = None, headers: Mapping[str, str] | None = None
    ) -> bytes:
        cmd = decode(data, StartExecution, what="start command", max_bytes=self._max_bytes)
        tenant = subjects.check_token(cmd.tenant, "tenant")
        check_workflow_id(cmd.workflow_id)
        # An empty id is a client's unset variable, not a request for a generated one.
        given = cmd.execution_id
        execution_id = subjects.check_token(
            _generated_id(command_key) if given is None else given, "execution_id"
        )
        graph = await self._admitted(tenant, cmd)
        version = graph.ir.version
        started = WorkflowStarted(
            workflow_id=cmd.workflow_id, workflow_version=version, initial_input=cmd.input
        )
        try:
            appended = await self._store_start(tenant, execution_id, started, headers)
        except AppendConflictError:
            return await self._already_started(tenant, execution_id, cmd.workflow_id, version)
        if graph.workflow_timeout_secs is not None:
            await self._timers.schedule(
                tenant, execution_id, graph.workflow_timeout_secs, appended.event.created_at
            )
        logger.info("%s: started %s %s for %s", execution_id, cmd.workflow_id, version, tenant)
        return ok_reply(
            execution_id=execution_id, workflow_id=cmd.workflow_id, workflow_version=version, created=True
        )

    async def _admitted(self, tenant: str, cmd: StartExecution) -> Graph:
        """The workflow's graph, once the tenant may start it: the two reads (each a round trip) at once,
        the tenant's refusal first."""
        admitted, graph = await asyncio.gather(
            self._tenants.admit(tenant),
            self._catalog.get(tenant, cmd.workflow_id, cmd.workflow_version),
            return_exceptions=True,
        )
        for outcome in (admitted, graph):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(graph, Graph)
        return graph

    async def _store_start(
        self, tenant: str, execution_id: str, started: WorkflowStarted, headers: Mapping[str, str] | None
    ) -> Appended:
        """Append WorkflowStarted with the trace context of the execution's new workflow span."""
        span = tracing.open_workflow_span(
            headers, execution_id, started.workflow_id, started.workflow_version
        )
        appended = await self._executions.start(tenant, execution_id, started, tracing.carrier(span))
        tracing.started(span, tenant, started.workflow_id)
        return appended

    async def _already_started(self, tenant: str, execution_id: str, workflow_id: str, version: str) -> bytes:
        """Starting an existing id again is idempotent, unless it names another workflow or its log is
        another tenant's (ids are global: the store keys on them)."""
        # Through the leader: on a replicated stream the start that won may not be on a replica yet.
        async for event, _ in self._executions.log.read(tenant, execution_id, leader=True):
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
            raise ConflictError(
                f"execution '{execution_id}' already exists for another workflow or version",
                code="execution_exists",
            )
        if await self._executions.log.holder(execution_id) in (None, tenant):
            # What the start conflicted with is in no other tenant's log: a replicated stream's leader
            # lost it before it was committed, or the read missed it while a leader was elected (seen
            # in CI with a leader SIGKILLed). The start is tried again.
            raise StartInDoubtError(f"execution '{execution_id}' is being started; try again")
        raise ConflictError(
            f"execution id '{execution_id}' is already used by another tenant", code="execution_exists"
        )

    async def cancel(self, data: bytes) -> bytes:
        cmd = decode(data, CancelExecution, what="cancel command", max_bytes=self._max_bytes)
        subjects.check_token(cmd.tenant, "tenant")
        subjects.check_token(cmd.execution_id, "execution_id")
        return await run_in_lane(self._executions.lanes, cmd.execution_id, lambda: self._cancel(cmd))

    async def _cancel(self, cmd: CancelExecution) -> bytes:
        cancelled = WorkflowCancelled(reason=cmd.reason or "user request")
        await self._record_live(cmd.tenant, cmd.execution_id, lambda _: cancelled)
        logger.info("%s: cancelled", cmd.execution_id)
        return ok_reply(execution_id=cmd.execution_id, status="cancelled")

    async def approve(self, data: bytes) -> bytes:
        cmd = decode(data, SubmitApproval, what="approval", max_bytes=self._max_bytes)
        subjects.check_token(cmd.tenant, "tenant")
        subjects.check_token(cmd.execution_id, "execution_id")
        if not cmd.user_id.strip():
            raise ContractError("user_id must not be empty", code="invalid_request")
        return await run_in_lane(self._executions.lanes, cmd.execution_id, lambda: self._approve(cmd))

    async def _approve(self, cmd: SubmitApproval) -> bytes:
        def decision(progress: Progress) -> ApprovalReceived:
            return ApprovalReceived(
                node_id=_pending_node(progress, cmd.node_id),
                user_id=cmd.user_id,
                decision=cmd.decision,
                comment=cmd.comment,
                state_patch=cmd.state_patch,
            )

        node_id = (await self._record_live(cmd.tenant, cmd.execution_id, decision)).node_id
        logger.info("%s/%s: %s by %s", cmd.execution_id, node_id, cmd.decision, cmd.user_id)
        return ok_reply(execution_id=cmd.execution_id, node_id=node_id, decision=cmd.decision, accepted=True)

    async def signal(self, data: bytes) -> bytes:
        cmd = decode(data, SendSignal, what="signal", max_bytes=self._max_bytes)
        subjects.check_token(cmd.tenant, "tenant")
        subjects.check_token(cmd.execution_id, "execution_id")
        if not cmd.correlation_key:
            raise ContractError("correlation_key must not be empty", code="invalid_request")
        return await run_in_lane(self._executions.lanes, cmd.execution_id, lambda: self._signal(cmd))

    async def _signal(self, cmd: SendSignal) -> bytes:
        event = ExternalEventReceived(correlation_key=cmd.correlation_key, payload=cmd.payload)
        await self._record_live(cmd.tenant, cmd.execution_id, lambda _: event)
        return ok_reply(execution_id=cmd.execution_id, correlation_key=cmd.correlation_key, accepted=True)

    async def _record_live[K: EventKind](
        self, tenant: str, execution_id: str, make: Callable[[Progress], K]
    ) -> K:
        """Append what ``make`` makes of the running execution, through the one conflict loop."""

        def decide(progress: Progress | None) -> K:
            return make(self._live(progress, tenant, execution_id))

        recorded = await self._executions.record(tenant, execution_id, decide)
        assert recorded is not None  # decide never declines: it answers or raises
        return recorded

    def _live(self, progress: Progress | None, tenant: str, execution_id: str) -> Progress:
        """The progress of a running execution, or the specific error why there is none."""
        if progress is None:
            raise UnknownExecutionError(f"execution '{execution_id}' does not exist for tenant '{tenant}'")
        if progress.terminal:
            self._executions.forget(execution_id, finished=True)
            raise ConflictError(
                f"execution '{execution_id}' is already {progress.terminal}", code="execution_terminal"
            )
        return progress
