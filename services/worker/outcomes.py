"""How an attempt ends: the events that record it and what becomes of the work item.

- success: ``NodeCompleted`` (committed, ``commit.py``); ack.
- retryable, its class allowed by ``retryable_on``, attempts left: ``NodeFailed{retryable: true}`` and
  ``RetryScheduled``; nak(delay).
- retryable, no attempts left: ``NodeFailed{"exhausted N attempts: <last>", exhausted}`` (committed) and
  a dead letter; term.
- fatal, or retryable but not in ``retryable_on``: ``NodeFailed{retryable: false}`` (committed); term.
- refused by the worker's sandbox: ``PolicyViolation{rule, decision: "blocked", policy_scope:
  "worker_sandbox"}``, then as fatal.
- the worker died holding the lease: as retryable, error ``lease expired: worker presumed dead``,
  delay ``2^min(next attempt, 6)`` s whatever the policy.
- the execution was cancelled: ``NodeCancelled`` (committed); ack.
"""

from __future__ import annotations

import logging

from jamjet_common.events import Exhaustion, NodeCancelled, NodeFailed
from jamjet_common.messages import WorkItem
from services.worker import retry
from services.worker.artifacts import OutputSpiller
from services.worker.commit import OutcomeCommitter
from services.worker.deadletter import exhausted_failure
from services.worker.executors import ExecutionResult
from services.worker.failures import Failure
from services.worker.history import LEASE_EXPIRED_ERROR, Attempt, lapsed_failure
from services.worker.recorder import NodeRecorder
from services.worker.sandbox.refusal import SCOPE as SANDBOX_SCOPE
from services.worker.settle import Verdict

logger = logging.getLogger(__name__)


class AttemptEnds:
    def __init__(self, recorder: NodeRecorder, committer: OutcomeCommitter, spiller: OutputSpiller) -> None:
        self._recorder = recorder
        self._committer = committer
        self._spiller = spiller

    async def succeeded(self, item: WorkItem, attempt: Attempt, result: ExecutionResult) -> Verdict:
        result = await self._spiller.spill(item, result)
        kind = self._recorder.completion(item, result)
        if (problem := self._recorder.oversize(kind)) is not None:
            return await self.fatal(item, attempt, problem)
        verdict = await self._committer.commit(item, attempt, kind)
        logger.info("%s/%s: completed in %d ms", item.execution_id, item.node_id, result.duration_ms)
        return verdict

    async def failed(self, item: WorkItem, attempt: Attempt, failure: Failure) -> Verdict:
        if failure.violation is not None:
            await self._recorder.violation(item, failure.violation, SANDBOX_SCOPE)
        if not retry.retries(item.retry, failure):
            if failure.retryable:
                logger.info(
                    "%s/%s: %s errors are not retried by this node's retry policy",
                    item.execution_id,
                    item.node_id,
                    failure.error_class or "unclassified",
                )
            return await self.fatal(item, attempt, failure.error)
        delay = retry.next_delay(item.retry, attempt.spent, failure.retry_after)
        if delay is None:
            return await self._exhausted(item, attempt, failure.error)
        failed = NodeFailed(node_id=item.node_id, error=failure.error, attempt=attempt.number, retryable=True)
        return await self._retry(item, attempt, failed, delay)

    async def lapsed(self, item: WorkItem, lapsed: Attempt) -> Verdict:
        """The worker running attempt ``lapsed`` died holding its lease: that attempt failed."""
        label = f"{item.execution_id}/{item.node_id}"
        logger.warning("%s: attempt %d lost its worker (lease expired)", label, lapsed.number)
        if lapsed.spent + 1 >= retry.max_attempts(item.retry):
            return await self._exhausted(item, lapsed, LEASE_EXPIRED_ERROR)
        delay = retry.lease_expiry_delay(lapsed.number + 1)
        return await self._retry(item, lapsed, lapsed_failure(item.node_id, lapsed.number), delay)

    async def fatal(self, item: WorkItem, attempt: Attempt, error: str) -> Verdict:
        kind = NodeFailed(node_id=item.node_id, error=error, attempt=attempt.number, retryable=False)
        return await self._failed_for_good(item, attempt, kind)

    async def cancelled(self, item: WorkItem, attempt: Attempt) -> Verdict:
        logger.info("%s/%s: cancelled with its execution", item.execution_id, item.node_id)
        return await self._committer.commit(item, attempt, NodeCancelled(node_id=item.node_id))

    async def released(self, item: WorkItem, attempt: Attempt) -> None:
        """This worker stops before the attempt ended: give the attempt back, unless it is moot."""
        if not attempt.running:
            return
        try:
            await self._recorder.released(item, attempt)
        except Exception as exc:  # the next delivery then counts it as a lapsed lease
            logger.warning("%s/%s: could not record the release: %s", item.execution_id, item.node_id, exc)

    async def _exhausted(self, item: WorkItem, attempt: Attempt, last_error: str) -> Verdict:
        exhausted = Exhaustion(attempts=retry.max_attempts(item.retry), last_error=last_error)
        failure = exhausted_failure(item.node_id, attempt.number, exhausted)
        return await self._failed_for_good(item, attempt, failure)

    async def _failed_for_good(self, item: WorkItem, attempt: Attempt, kind: NodeFailed) -> Verdict:
        logger.warning("%s/%s: failed: %s", item.execution_id, item.node_id, kind.error)
        return await self._committer.commit(item, attempt, kind)

    async def _retry(self, item: WorkItem, attempt: Attempt, failed: NodeFailed, delay: float) -> Verdict:
        if (ended := await self._recorder.retrying(item, failed, delay, attempt)) is not None:
            return await self._committer.found(item, ended)
        logger.info(
            "%s/%s: attempt %d failed (%s); retry in %.2fs",
            item.execution_id,
            item.node_id,
            failed.attempt,
            failed.error,
            delay,
        )
        return Verdict.redeliver(delay)
