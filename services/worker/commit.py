"""Committing a dispatch's outcome exactly once, however many workers ran it.

claim (``jamjet_common.claims``) -> [dead letter, for an exhausted dispatch] -> append the outcome ->
ack/term.
A worker whose claim loses discards its own result: the claimed outcome is the dispatch's, and if its
claimant died before appending it, this worker appends it (same message id, so both cannot land).
"""

from __future__ import annotations

import logging

from jamjet_common.claims import OutcomeClaims
from jamjet_common.dedup import DispatchKeys
from jamjet_common.events import EventKind, NodeFailed
from jamjet_common.messages import WorkItem
from services.worker.deadletter import DeadLetters, exhaustion
from services.worker.recorder import NodeRecorder
from services.worker.settle import DONE, DROP, Verdict

logger = logging.getLogger(__name__)


def settling(kind: EventKind) -> Verdict:
    """A failed dispatch's item is terminated, any other outcome's acknowledged; both leave the queue."""
    return DROP if isinstance(kind, NodeFailed) else DONE


class OutcomeCommitter:
    def __init__(self, recorder: NodeRecorder, claims: OutcomeClaims, dead_letters: DeadLetters) -> None:
        self._recorder = recorder
        self._claims = claims
        self._dead_letters = dead_letters

    async def commit(self, item: WorkItem, outcome: EventKind) -> Verdict:
        claimed = await self._claims.claim(DispatchKeys.of(item), outcome)
        if claimed is not None:
            return await self._lost(item, claimed)
        await self._record(item, outcome)
        return settling(outcome)

    async def recover(self, item: WorkItem) -> Verdict | None:
        """Finish a claimed outcome that is not in the log yet; None if nobody claimed the dispatch."""
        claimed = await self._claims.claimed(DispatchKeys.of(item))
        if claimed is None:
            return None
        await self._finish(item, claimed)
        return settling(claimed)

    async def claimed(self, item: WorkItem) -> bool:
        return await self._claims.claimed(DispatchKeys.of(item)) is not None

    async def _lost(self, item: WorkItem, claimed: EventKind) -> Verdict:
        logger.warning(
            "late result for %s/%s dispatch %d discarded; outcome already committed by another worker",
            *_ids(item),
        )
        history = await self._recorder.history(item)
        if history.outcome is None:
            await self._finish(item, claimed)
        return DONE

    async def _finish(self, item: WorkItem, claimed: EventKind) -> None:
        """Append an outcome claimed by a worker that has not appended it (it died, or is about to)."""
        logger.info("%s/%s: dispatch %d: recording the claimed %s", *_ids(item), claimed.tag)
        await self._record(item, claimed)

    async def _record(self, item: WorkItem, outcome: EventKind) -> None:
        # The dead letter goes first: an exhausted outcome in the log promises its record exists.
        if (exhausted := exhaustion(outcome)) is not None:
            await self._dead_letters.publish(item, exhausted)
        await self._recorder.outcome(item, outcome)


def _ids(item: WorkItem) -> tuple[str, str, int]:
    return item.execution_id, item.node_id, item.dispatch
