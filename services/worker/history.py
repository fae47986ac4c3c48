"""What the log already says about one node dispatch: its attempts so far, and whether it has its outcome.

Read once per redelivery; a first delivery has no history. A dispatch's events are its node's events
after its ``NodeScheduled``, up to that node's next ``NodeScheduled`` (a later dispatch of the node).
Attempts are counted from ``NodeStarted`` events, not from JetStream deliveries, so that redeliveries
which ran nothing (policy unavailable, shutdown before start) use up nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jamjet_common import refusals
from jamjet_common.dispatch_end import settles
from jamjet_common.eventlog import EMPTY, EventLog, Tail
from jamjet_common.events import (
    EventKind,
    NodeFailed,
    NodeScheduled,
    NodeStarted,
    RetryScheduled,
    WorkflowCancelled,
)
from jamjet_common.messages import WorkItem

SHUTDOWN_ERROR = "worker shut down before the node finished"
LEASE_EXPIRED_ERROR = "lease expired: worker presumed dead"


@dataclass(slots=True)
class Attempt:
    """One attempt at a dispatch, as this worker makes it."""

    number: int = 0
    """0-based, as in ``NodeStarted.attempt``: the attempts started for the dispatch before this one."""
    spent: int = 0
    """Attempts before this one that count against the retry policy's ``max_attempts``."""
    running: bool = False
    """The executor runs: a shutdown that cancels it now gives the attempt back."""
    started: bool = False
    """This worker recorded the attempt's start: a failure of it that others record ends it too."""
    clear: Tail | None = field(default=None, compare=False)
    """A log position up to which this worker has seen the dispatch open: its outcome is appended
    conditionally from there (``EventLog.append_unless``). None until the worker has read or written
    the log for the dispatch."""


@dataclass(slots=True)
class DispatchHistory:
    outcome: EventKind | None = None
    """The first event that settled the dispatch, if any."""
    starts: int = 0
    released: int = 0
    """Attempts given back by a worker that shut down while running them."""
    open_attempt: int | None = None
    """The last started attempt, if nothing closed it: its worker died holding the lease."""
    execution_cancelled: bool = False
    unscheduled: NodeFailed | None = None
    """A retryable failure whose ``RetryScheduled`` its worker did not live to append."""
    through: Tail = EMPTY
    """How far the log was read: where a worker that finds the dispatch open may append from."""

    @property
    def next_attempt(self) -> Attempt:
        return Attempt(number=self.starts, spent=self.starts - self.released)

    @property
    def lapsed(self) -> Attempt | None:
        """The attempt whose worker died, with the attempts that counted before it."""
        if self.open_attempt is None:
            return None
        return Attempt(number=self.open_attempt, spent=self.starts - self.released - 1, clear=self.through)

    def fold(self, kind: EventKind) -> None:
        if isinstance(kind, NodeStarted):
            self.starts += 1
            self.open_attempt, self.unscheduled = kind.attempt, None
        elif isinstance(kind, NodeFailed) and kind.retryable:
            self.open_attempt = None
            self.unscheduled = None if kind.released else kind
            if kind.released:
                self.released += 1
        elif isinstance(kind, RetryScheduled):
            self.unscheduled = None
        elif settles(kind):
            self.open_attempt = None
            self.outcome = self.outcome or kind


def released_failure(node_id: str, attempt: int) -> NodeFailed:
    """A graceful shutdown gives attempt ``attempt`` back; the field says so, the text is for people."""
    return NodeFailed(node_id=node_id, error=SHUTDOWN_ERROR, attempt=attempt, retryable=True, released=True)


def lapsed_failure(node_id: str, attempt: int) -> NodeFailed:
    """Attempt ``attempt`` lost its worker (lease expired), with attempts left."""
    return NodeFailed(
        node_id=node_id, error=LEASE_EXPIRED_ERROR, attempt=attempt, retryable=True, lease_expired=True
    )


async def read_history(log: EventLog, item: WorkItem) -> DispatchHistory:
    history = DispatchHistory()
    accepted: int | None = None
    async for event, stream_seq in log.read(item.tenant, item.execution_id, after_stream_seq=_before(item)):
        if accepted is not None and refusals.out_of_sequence(event.sequence, accepted) is not None:
            # A message readers refuse (jamjet_common.refusals) says nothing of the dispatch.
            history.through = Tail(accepted, stream_seq)
            continue
        accepted = event.sequence
        history.through = Tail(accepted, stream_seq)
        kind = event.kind
        if isinstance(kind, WorkflowCancelled):
            history.execution_cancelled = True
        if event.sequence <= item.dispatch or kind.node != item.node_id:
            continue
        if isinstance(kind, NodeScheduled):
            break
        history.fold(kind)
    return history


def _before(item: WorkItem) -> int:
    """Where to start reading: just before the dispatch's NodeScheduled when the item says where it is."""
    return item.scheduled_at.stream_seq - 1 if item.scheduled_at is not None else 0
