"""What a worker does with one delivered work item, from decoding it to settling it.

decode -> already settled? -> policy -> NodeStarted -> run the node -> outcome event -> ack/nak/term.
Policy is asked before NodeStarted is appended, so that an unreachable policy service (the item is
redelivered a little later) does not fill the log with starts of nodes that never ran.
"""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.aio.msg import Msg

from jamjet_common.codec import decode
from jamjet_common.deadletter import dead_letter_decode
from jamjet_common.errors import ContractError
from jamjet_common.messages import PolicyDecision, WorkItem
from jamjet_common.subjects import check_token
from services.worker import retry
from services.worker.executors import ExecutionContext, ExecutionResult, ExecutorRegistry
from services.worker.failures import Failure
from services.worker.heartbeat import heartbeat
from services.worker.policy_client import PolicyClient, PolicyRefusedError, PolicyUnavailableError
from services.worker.recorder import NodeRecorder
from services.worker.runner import Success, run_node
from services.worker.settle import DONE, DROP, Verdict, settle

logger = logging.getLogger(__name__)
SERVICE = "worker"


def decode_item(data: bytes) -> WorkItem:
    """The work item in ``data``, or a ContractError saying what is wrong with it."""
    item = decode(data, WorkItem, what="work item")
    check_token(item.tenant, "tenant")
    check_token(item.execution_id, "execution_id")
    return item


def approved_by_the_approval_flow(item: WorkItem) -> bool:
    """Whether a human already approved this dispatch's node.

    Answering it (from the log's ApprovalReceived events) belongs to the approval flow, which is not
    built yet; until then every gated node is held.
    """
    return False


class Pipeline:
    def __init__(
        self,
        nc: Client,
        recorder: NodeRecorder,
        policy: PolicyClient,
        registry: ExecutorRegistry,
        *,
        worker_id: str,
        heartbeat_secs: float,
        policy_retry_secs: float,
    ) -> None:
        self._nc = nc
        self._recorder = recorder
        self._policy = policy
        self._registry = registry
        self._worker_id = worker_id
        self._heartbeat_secs = heartbeat_secs
        self._policy_retry_secs = policy_retry_secs

    async def process(self, msg: Msg) -> None:
        try:
            item = decode_item(msg.data)
        except ContractError as exc:
            await dead_letter_decode(self._nc, msg, str(exc), SERVICE)
            return
        attempt = msg.metadata.num_delivered - 1
        async with heartbeat(msg, self._heartbeat_secs, f"{item.execution_id}/{item.node_id}"):
            verdict = await self.handle(item, attempt)
        await settle(msg, verdict)

    async def handle(self, item: WorkItem, attempt: int) -> Verdict:
        if attempt > 0 and await self._recorder.settled(item):
            logger.info("%s/%s: dispatch %d already settled", item.execution_id, item.node_id, item.dispatch)
            return DONE
        try:
            decision = await self._policy.evaluate(item)
        except PolicyUnavailableError as exc:
            logger.warning("%s/%s: not run: %s", item.execution_id, item.node_id, exc)
            return Verdict.redeliver(self._policy_retry_secs)
        except PolicyRefusedError as exc:
            await self._recorder.started(item, attempt)
            return await self._failed(item, attempt, Failure(exc.message, retryable=False))
        await self._recorder.started(item, attempt)
        return await self._decided(item, attempt, decision)

    async def _decided(self, item: WorkItem, attempt: int, decision: PolicyDecision) -> Verdict:
        if decision.decision == "block":
            return await self._blocked(item, attempt, decision)
        if decision.decision == "require_approval" and not approved_by_the_approval_flow(item):
            await self._recorder.approval_required(item, decision)
            logger.info("%s/%s: held for approval", item.execution_id, item.node_id)
            return DONE
        return await self._run(item, attempt)

    async def _blocked(self, item: WorkItem, attempt: int, decision: PolicyDecision) -> Verdict:
        await self._recorder.violation(item, decision)
        reason = decision.reason or "blocked"
        return await self._failed(item, attempt, Failure(f"blocked by policy: {reason}", retryable=False))

    async def _run(self, item: WorkItem, attempt: int) -> Verdict:
        ctx = ExecutionContext(item=item, attempt=attempt, worker_id=self._worker_id)
        outcome = await run_node(self._registry, ctx)
        if isinstance(outcome, Success):
            return await self._succeeded(item, attempt, outcome.result)
        return await self._failed(item, attempt, outcome)

    async def _succeeded(self, item: WorkItem, attempt: int, result: ExecutionResult) -> Verdict:
        kind = self._recorder.completion(item, result)
        if (problem := self._recorder.oversize(kind)) is not None:
            return await self._failed(item, attempt, Failure(problem, retryable=False))
        await self._recorder.completed(item, kind)
        logger.info("%s/%s: completed in %d ms", item.execution_id, item.node_id, result.duration_ms)
        return DONE

    async def _failed(self, item: WorkItem, attempt: int, failure: Failure) -> Verdict:
        """Retryable with attempts left: record and redeliver later. Otherwise: record and drop."""
        delay = retry.next_delay(item.retry, attempt, failure.retry_after) if failure.retryable else None
        if delay is not None:
            await self._recorder.failed(item, attempt, failure.error, retryable=True)
            logger.info(
                "%s/%s: attempt %d failed (%s); retry in %.2fs",
                item.execution_id,
                item.node_id,
                attempt,
                failure.error,
                delay,
            )
            return Verdict.redeliver(delay)
        error = failure.error
        if failure.retryable:
            error = f"exhausted {retry.max_attempts(item.retry)} attempts: {error}"
        await self._recorder.failed(item, attempt, error, retryable=False)
        logger.warning("%s/%s: failed: %s", item.execution_id, item.node_id, error)
        return DROP
