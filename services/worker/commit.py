"""Committing a dispatch's outcome exactly once, however many workers ran it.

append the outcome, unless the dispatch has ended -> [dead letter, for an exhausted dispatch] -> ack/term.
The log arbitrates (``jamjet_common.dispatch_end``): the outcome is appended conditionally on a tail up
to which this worker saw the dispatch open, so a worker that lost the race finds the winner's outcome
and discards its own result. Whoever finds the dispatch ended by an exhausted outcome publishes its dead
letter again (same message id): its committer may have died between the two.
"""

from __future__ import annotations

import logging

from jamjet_common.dispatch_end import settles
from jamjet_common.events import Event, EventKind, NodeFailed
from jamjet_common.messages import WorkItem
from services.worker.deadletter import DeadLetters, exhaustion
from services.worker.history import Attempt
from services.worker.recorder import NodeRecorder
from services.worker.settle import DONE, DROP, LEAVE, Verdict

logger = logging.getLogger(__name__)


def settling(kind: EventKind) -> Verdict:
    """A failed dispatch's item is terminated, any other outcome's acknowledged; both leave the queue."""
    return DROP if isinstance(kind, NodeFailed) else DONE


class OutcomeCommitter:
    def __init__(self, recorder: NodeRecorder, dead_letters: DeadLetters) -> None:
        self._recorder = recorder
        self._dead_letters = dead_letters

    async def commit(self, item: WorkItem, attempt: Attempt, outcome: EventKind) -> Verdict:
        ended = await self._recorder.outcome(item, outcome, attempt)
        if ended is not None:
            return await self.found(item, ended)
        await self._dead_letter(item, outcome)
        return settling(outcome)

    async def found(self, item: WorkItem, ended: Event) -> Verdict:
        """What this worker was about to record lost to ``ended``, found in the log: its result is void."""
        label = f"{item.execution_id}/{item.node_id}"
        if not settles(ended.kind):
            # A failure of this worker's attempt, recorded by the worker that found its lease lapsed and
            # holds the item now: the retry is that worker's, and so is settling the item.
            logger.warning(
                "late result for %s dispatch %d discarded; its attempt was lost", label, item.dispatch
            )
            return LEAVE
        logger.warning(
            "late result for %s dispatch %d discarded; the dispatch ended already (%s)",
            label,
            item.dispatch,
            ended.kind.tag,
        )
        return await self.ended(item, ended.kind)

    async def ended(self, item: WorkItem, outcome: EventKind) -> Verdict:
        """The dispatch ended with ``outcome`` (found in the log): its dead letter, if it needs one."""
        await self._dead_letter(item, outcome)
        return DONE

    async def _dead_letter(self, item: WorkItem, outcome: EventKind) -> None:
        if (exhausted := exhaustion(outcome)) is not None:
            await self._dead_letters.publish(item, exhausted)
