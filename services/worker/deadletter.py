"""Dead letters: work items out of attempts, kept on the DLQ stream with their attempts and last error.

An exhausted dispatch's outcome is ``NodeFailed{retryable: false, error: "exhausted N attempts: <last>",
exhausted: {attempts: N, last_error: <last>}}``; its ``exhausted`` field marks the outcome as a dead
letter, so that whoever commits it (its claimant, or a worker finishing a dead claimant's commit)
publishes the record. The message id makes a second publish within the duplicate window a no-op.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import msgspec
from nats.js import JetStreamContext

from jamjet_common import streams, subjects, telemetry
from jamjet_common.codec import ENCODER
from jamjet_common.dedup import DispatchKeys
from jamjet_common.events import EventKind, Exhaustion, NodeFailed
from jamjet_common.messages import WorkDeadLetter, WorkItem
from jamjet_common.publisher import MSG_ID, JsPublisher

logger = logging.getLogger(__name__)
RECORD_OVERHEAD_BYTES = 1024


def exhausted_failure(node_id: str, attempt: int, exhausted: Exhaustion) -> NodeFailed:
    """The outcome of a dispatch out of attempts, with the original's error text for clients."""
    error = f"exhausted {exhausted.attempts} attempts: {exhausted.last_error}"
    return NodeFailed(node_id=node_id, error=error, attempt=attempt, retryable=False, exhausted=exhausted)


def exhaustion(kind: EventKind) -> Exhaustion | None:
    """How the dispatch ran out of attempts, if ``kind`` is the outcome of an exhausted dispatch."""
    if not isinstance(kind, NodeFailed) or kind.retryable:
        return None
    return kind.exhausted


class DeadLetters:
    def __init__(
        self, js: JetStreamContext, worker_id: str, max_msg_bytes: int, publisher: JsPublisher | None = None
    ) -> None:
        self._publisher = publisher or JsPublisher.for_js(js)
        self._worker_id = worker_id
        self._max_bytes = max_msg_bytes - RECORD_OVERHEAD_BYTES

    async def publish(self, item: WorkItem, exhausted: Exhaustion) -> None:
        data = self._encode(item, exhausted)
        subject = subjects.dlq_work(item.queue_type)
        headers = telemetry.inject({MSG_ID: DispatchKeys.of(item).dead_letter})
        await self._publisher.publish(subject, data, headers, stream=streams.DLQ)
        logger.warning(
            "%s/%s: dispatch %d dead-lettered after %d attempts: %s",
            item.execution_id,
            item.node_id,
            item.dispatch,
            exhausted.attempts,
            exhausted.last_error,
        )

    def _encode(self, item: WorkItem, exhausted: Exhaustion) -> bytes:
        record = WorkDeadLetter(
            item=item,
            attempts=exhausted.attempts,
            last_error=exhausted.last_error,
            worker_id=self._worker_id,
            dead_lettered_at=datetime.now(UTC),
        )
        data = ENCODER.encode(record)
        if len(data) <= self._max_bytes:
            return data
        # The item's state is what grows; the record must fit on the stream whatever it held.
        logger.warning("%s/%s: dead letter too large; its state is left out", item.execution_id, item.node_id)
        return ENCODER.encode(msgspec.structs.replace(record, item=msgspec.structs.replace(item, state={})))
