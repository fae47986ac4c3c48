"""What a worker does with one delivered work item, from decoding it to settling it.

decode -> [redelivered: what the log says decides] -> policy -> NodeStarted -> run the node -> end
(``outcomes.py``) -> ack/nak/term. Policy is asked before NodeStarted is appended, so that an
unreachable policy service (the item is redelivered a little later) neither fills the log with starts
of nodes that never ran nor uses up attempts, which are counted from NodeStarted events.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import streams, telemetry
from jamjet_common.artifacts import ArtifactStore
from jamjet_common.codec import decode
from jamjet_common.deadletter import dead_letter_decode
from jamjet_common.errors import ContractError
from jamjet_common.eventlog import EventLog
from jamjet_common.held_ack import HeldAck
from jamjet_common.ir import NodeKind
from jamjet_common.messages import AutonomyOutcome, PolicyDecision, WorkItem
from jamjet_common.publisher import JsPublisher
from jamjet_common.subjects import check_token
from jamjet_common.tenant_view import TenantView
from services.worker import tool_policy, tracing
from services.worker.artifacts import DEFAULT_THRESHOLD_BYTES, OutputSpiller
from services.worker.cancellation import Cancellations, Cancelled
from services.worker.commit import OutcomeCommitter
from services.worker.config import EAGER_BY_DEFAULT
from services.worker.deadletter import DeadLetters
from services.worker.executors import ExecutionContext, ExecutorRegistry
from services.worker.failures import Failure
from services.worker.heartbeat import Lease, heartbeat, times_delivered
from services.worker.history import Attempt
from services.worker.outcomes import AttemptEnds
from services.worker.policy_client import PolicyClient, PolicyRefusedError, PolicyUnavailableError
from services.worker.provenance import WorkflowNodes
from services.worker.recorder import NodeRecorder, Observer
from services.worker.runner import Success, run_node
from services.worker.settle import DONE, Verdict, settle
from services.worker.tool_calls import ToolCallsError, is_agent_dispatch

logger = logging.getLogger(__name__)
SERVICE = "worker"


def decode_item(data: bytes) -> WorkItem:
    """The work item in ``data``, or a ContractError saying what is wrong with it."""
    item = decode(data, WorkItem, what="work item")
    check_token(item.tenant, "tenant")
    check_token(item.execution_id, "execution_id")
    if item.node.kind.held_by_scheduler:
        # Refused before anything is recorded: the scheduler resolves such a node, and a start and a
        # failure here would be a second outcome of its dispatch.
        raise ContractError(
            f"node kind '{item.node.kind.tag}' is resolved by the scheduler; a worker never runs it",
            code="held_by_scheduler",
        )
    return item


def _allowed(decided: tool_policy.Decided) -> bool:
    """Allowed outright: no block, no approval, no autonomy rule to act on."""
    return decided.decision.decision == "allow" and decided.decision.autonomy is None


def approved_by_the_approval_flow(item: WorkItem) -> bool:
    """Whether a human already approved this dispatch's node (the scheduler says so on the item)."""
    return item.approved_by is not None


@dataclass(frozen=True, slots=True)
class PipelineParts:
    nc: Client
    recorder: NodeRecorder
    committer: OutcomeCommitter
    policy: PolicyClient
    registry: ExecutorRegistry
    cancels: Cancellations
    spiller: OutputSpiller
    nodes: WorkflowNodes
    tenants: TenantView | None = None


async def build_parts(
    nc: Client,
    js: JetStreamContext,
    registry: ExecutorRegistry,
    *,
    worker_id: str,
    max_msg_bytes: int,
    policy_timeout_secs: float,
    cancels: Cancellations | None = None,
    artifact_threshold: int = DEFAULT_THRESHOLD_BYTES,
    publisher: JsPublisher | None = None,
    log: EventLog | None = None,
    observe: Observer | None = None,
) -> PipelineParts:
    """``log``: one shared with another writer of the same process (a scheduler running nodes inline),
    whose own appends the recorder then knows without reading them; ``observe``: told of each append."""
    log = log or EventLog(nc, js, publisher=publisher)
    recorder = NodeRecorder(log, worker_id, max_msg_bytes, observe)
    dead_letters = DeadLetters(js, worker_id, max_msg_bytes, log.publisher)
    committer = OutcomeCommitter(recorder, dead_letters)
    tenants = await tenant_view(js)
    policy = PolicyClient(nc, policy_timeout_secs, tenants)
    spiller = OutputSpiller(await ArtifactStore.open(js), artifact_threshold)
    nodes = WorkflowNodes(await js.key_value(streams.KV_WORKFLOWS))
    cancels = cancels or Cancellations()
    return PipelineParts(nc, recorder, committer, policy, registry, cancels, spiller, nodes, tenants)


async def tenant_view(js: JetStreamContext) -> TenantView | None:
    """The tenants, for running policy-free nodes without asking; None (always ask) if they won't load."""
    view = TenantView(js)
    try:
        await view.start()
    except Exception as exc:  # only an optimisation is lost: every node is then asked about
        logger.warning("tenants not loaded (%s); every node waits for the policy service", exc)
        return None
    return view


class Pipeline:
    def __init__(
        self,
        parts: PipelineParts,
        *,
        worker_id: str,
        heartbeat_secs: float,
        policy_retry_secs: float,
        capture_prompts: bool = False,
        eager_kinds: frozenset[str] = EAGER_BY_DEFAULT,
    ) -> None:
        self._capture_prompts = capture_prompts
        self._eager_kinds = eager_kinds
        self._acks = HeldAck(ride_along=True)
        self._parts = parts
        self._recorder = parts.recorder
        self._cancels = parts.cancels
        self._ends = AttemptEnds(parts.recorder, parts.committer, parts.spiller)
        self._worker_id = worker_id
        self._heartbeat_secs = heartbeat_secs
        self._policy_retry_secs = policy_retry_secs

    @property
    def acks(self) -> HeldAck:
        """The work items' acks; those waiting for a ride go out with the connection's next publish."""
        return self._acks

    async def close(self) -> None:
        await self._acks.flush()
        if self._parts.tenants is not None:
            await self._parts.tenants.stop()

    async def process(self, msg: Msg) -> None:
        try:
            item = decode_item(msg.data)
        except ContractError as exc:
            await dead_letter_decode(self._parts.nc, msg, exc, SERVICE)
            return
        if (refusal := await self._parts.nodes.refusal(item)) is not None:
            await dead_letter_decode(self._parts.nc, msg, refusal, SERVICE)
            return
        await settle(msg, await self.delivered(item, msg), self._acks)

    async def delivered(self, item: WorkItem, msg: Lease, attempt: Attempt | None = None) -> Verdict:
        """Run one delivery of ``item``, whose lease ``msg`` is renewed while it runs; what to do with it.

        ``attempt``: one whose start is recorded already (a scheduler that runs the node inline appends
        it with the node's ``NodeScheduled``).
        """
        redelivered = times_delivered(msg) > 1
        if redelivered:
            tracing.redelivered(item.queue_type)
        attempt = attempt or Attempt()
        # Everything below (policy request, appended events) carries the node span's trace context.
        with tracing.node_span(msg.headers, item, self._worker_id) as span:
            async with heartbeat(msg, self._heartbeat_secs, f"{item.execution_id}/{item.node_id}"):
                try:
                    verdict = await self.handle(item, attempt, redelivered=redelivered)
                except asyncio.CancelledError:
                    await self._ends.released(item, attempt)
                    raise
                finally:
                    span.set_attribute(telemetry.ATTEMPT, attempt.number)
        return verdict

    async def handle(self, item: WorkItem, attempt: Attempt, *, redelivered: bool = False) -> Verdict:
        """Run one delivery of ``item``; ``attempt`` is filled in as the attempt becomes known."""
        # An item that does not say where its dispatch sits in the log is read from the log first.
        if redelivered or item.scheduled_at is None or self._cancels.cancelled(item.execution_id):
            verdict = await self._review(item, attempt)
            if verdict is not None:
                return verdict
            return await self._attempt(item, attempt, first=False)
        return await self._attempt(item, attempt, first=True)

    async def _review(self, item: WorkItem, attempt: Attempt) -> Verdict | None:
        """What the dispatch's history decides before anything runs; None: run the next attempt."""
        history = await self._recorder.history(item)
        attempt.clear = history.through
        if history.outcome is not None:
            logger.info("%s/%s: dispatch %d already settled", item.execution_id, item.node_id, item.dispatch)
            return await self._parts.committer.ended(item, history.outcome)
        if history.execution_cancelled or self._cancels.cancelled(item.execution_id):
            return await self._ends.cancelled(item, attempt)
        if (lapsed := history.lapsed) is not None:
            return await self._ends.lapsed(item, lapsed)
        if (failed := history.unscheduled) is not None:
            # Its worker died between the failure and the retry record: the retry runs now.
            await self._recorder.retry_scheduled(item, failed, 0.0)
        next_attempt = history.next_attempt
        attempt.number, attempt.spent = next_attempt.number, next_attempt.spent
        return None

    async def _start(self, item: WorkItem, attempt: Attempt) -> Verdict | None:
        """Record the attempt's start; a verdict instead if the dispatch turns out to have ended."""
        if attempt.started or (ended := await self._recorder.started(item, attempt)) is None:
            return None
        label = f"{item.execution_id}/{item.node_id}"
        logger.info("%s: dispatch %d ended before it started here", label, item.dispatch)
        return await self._parts.committer.ended(item, ended.kind)

    async def _attempt(self, item: WorkItem, attempt: Attempt, *, first: bool) -> Verdict:
        """``first``: the item's first delivery, and nothing known of its dispatch but that it was made."""
        try:
            decided = await tool_policy.decide(self._parts.policy, item)
        except PolicyUnavailableError as exc:
            logger.warning("%s/%s: not run: %s", item.execution_id, item.node_id, exc)
            return Verdict.redeliver(self._policy_retry_secs)
        except (PolicyRefusedError, ToolCallsError) as exc:
            if (verdict := await self._start(item, attempt)) is not None:
                return verdict
            return await self._ends.fatal(item, attempt, exc.message)
        if first and _allowed(decided) and self._eager(item.node.kind):
            return await self._run_while_starting(item, attempt)
        if (verdict := await self._start(item, attempt)) is not None:
            return verdict
        return await self._decided(item, attempt, decided)

    def _eager(self, kind: NodeKind) -> bool:
        return kind.tag in self._eager_kinds and not is_agent_dispatch(kind)

    async def _run_while_starting(self, item: WorkItem, attempt: Attempt) -> Verdict:
        """Run the node while its start is appended, saving that round trip; its outcome follows.

        Only for the kinds configured (``JAMJET_WORKER_EAGER_KINDS``), on a first delivery: a node that
        kills its worker before the start lands is redelivered, and the redelivery records the start
        first, so attempts are still counted. A start that finds the dispatch ended (withdrawn,
        cancelled) discards the run: hence the kinds that compute from the state alone, by default.
        """
        running = asyncio.ensure_future(self._execute(item, attempt))
        try:
            verdict = await self._start(item, attempt)
        except BaseException:
            running.cancel()
            raise
        if verdict is not None:
            running.cancel()
            return verdict
        attempt.running = True
        return await self._ended(item, attempt, await running)

    async def _decided(self, item: WorkItem, attempt: Attempt, decided: tool_policy.Decided) -> Verdict:
        decision = decided.decision
        if decision.autonomy is not None and decision.decision == "block":
            return await self._escalated(item, attempt, decision, decision.autonomy)
        if decision.decision == "block":
            await self._recorder.violation(item, decision.reason or "blocked", decision.policy_scope)
            return await self._ends.fatal(item, attempt, f"blocked by policy: {decision.reason or 'blocked'}")
        if decision.decision == "require_approval" and not approved_by_the_approval_flow(item):
            await self._recorder.approval_required(item, attempt, decision, decided.approval_context)
            logger.info("%s/%s: held for approval", item.execution_id, item.node_id)
            return DONE
        return await self._run(item, attempt)

    async def _escalated(
        self, item: WorkItem, attempt: Attempt, decision: PolicyDecision, outcome: AutonomyOutcome
    ) -> Verdict:
        """An agent over its autonomy: fail the node, or (when so configured) ask a human first."""
        if outcome.escalation_mode == "approval" and approved_by_the_approval_flow(item):
            return await self._run(item, attempt)
        await self._recorder.escalation(item, outcome)
        if outcome.escalation_mode == "approval":
            await self._recorder.approval_required(item, attempt, decision)
            return DONE
        return await self._ends.fatal(item, attempt, decision.reason or f"escalated: {outcome.reason}")

    async def _run(self, item: WorkItem, attempt: Attempt) -> Verdict:
        attempt.running = True
        return await self._ended(item, attempt, await self._execute(item, attempt))

    async def _execute(self, item: WorkItem, attempt: Attempt) -> Success | Failure | Cancelled:
        ctx = ExecutionContext(item=item, attempt=attempt.number, worker_id=self._worker_id)
        running = run_node(self._parts.registry, ctx, capture_prompts=self._capture_prompts)
        return await self._cancels.guard(item.execution_id, running)

    async def _ended(
        self, item: WorkItem, attempt: Attempt, outcome: Success | Failure | Cancelled
    ) -> Verdict:
        attempt.running = False
        if isinstance(outcome, Cancelled):
            return await self._ends.cancelled(item, attempt)
        if isinstance(outcome, Success):
            return await self._ends.succeeded(item, attempt, outcome.result)
        return await self._ends.failed(item, attempt, outcome)
