"""Dead letters: work items out of attempts, kept on the DLQ stream with their attempts and last error.

An exhausted dispatch's outcome is ``NodeFailed{retryable: false, error: "exhausted N attempts: <last>"}``;
that error is what marks the outcome as a dead letter, so that whoever commits it (its claimant, or a
worker finishing a dead claimant's commit) publishes the record. The message id makes a second publish
within the duplicate window a no-op.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import msgspec
from nats.js import JetStreamContext

from jamjet_common import streams, subjects, telemetry
from jamjet_common.codec import ENCODER
from jamjet_common.eventlog import MSG_ID
from jamjet_common.events import EventKind, NodeFailed
from jamjet_common.messages import WorkDeadLetter, WorkItem

logger = logging.getLogger(__name__)
_EXHAUSTED = re.compile(r"exhausted (\d+) attempts: (.*)", re.DOTALL)
RECORD_OVERHEAD_BYTES = 1024


def exhausted_error(attempts: int, last_error: str) -> str:
    return f"exhausted {attempts} attempts: {last_error}"


def exhaustion(kind: EventKind) -> tuple[int, str] | None:
    """``(attempts, last error)`` if ``kind`` is the outcome of an exhausted dispatch."""
    if not isinstance(kind, NodeFailed) or kind.retryable:
        return None
    match = _EXHAUSTED.fullmatch(kind.error)
    return (int(match[1]), match[2]) if match else None


def dead_letter_id(item: WorkItem) -> str:
    return f"{item.item_id}:dead"


class DeadLetters:
    def __init__(self, js: JetStreamContext, worker_id: str, max_msg_bytes: int) -> None:
        self._js = js
        self._worker_id = worker_id
        self._max_bytes = max_msg_bytes - RECORD_OVERHEAD_BYTES

    async def publish(self, item: WorkItem, attempts: int, last_error: str) -> None:
        data = self._encode(item, attempts, last_error)
        subject = subjects.dlq_work(item.queue_type)
        headers = telemetry.inject({MSG_ID: dead_letter_id(item)})
        await self._js.publish(subject, data, stream=streams.DLQ, headers=headers)
        logger.warning(
            "%s/%s: dispatch %d dead-lettered after %d attempts: %s",
            item.execution_id,
            item.node_id,
            item.dispatch,
            attempts,
            last_error,
        )

    def _encode(self, item: WorkItem, attempts: int, last_error: str) -> bytes:
        record = WorkDeadLetter(
            item=item,
            attempts=attempts,
            last_error=last_error,
            worker_id=self._worker_id,
            dead_lettered_at=datetime.now(UTC),
        )
        data = ENCODER.encode(record)
        if len(data) <= self._max_bytes:
            return data
        # The item's state is what grows; the record must fit on the stream whatever it held.
        logger.warning("%s/%s: dead letter too large; its state is left out", item.execution_id, item.node_id)
        return ENCODER.encode(msgspec.structs.replace(record, item=msgspec.structs.replace(item, state={})))
