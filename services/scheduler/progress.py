"""What the scheduler knows of one execution: the fold of its event log."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jamjet_common import refusals, telemetry
from jamjet_common.eventlog import EMPTY, Tail
from jamjet_common.events import (
    ApprovalReceived,
    Event,
    EventKind,
    ExternalEventReceived,
    NodeCancelled,
    NodeCompleted,
    NodeFailed,
    NodeScheduled,
    NodeSkipped,
    NodeStarted,
    TimerFired,
    ToolApprovalRequired,
    WorkflowCancelled,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowStarted,
)
from jamjet_common.merge import merge_into
from services.scheduler import readiness
from services.scheduler.budget import BUDGET_KEY, BudgetState
from services.scheduler.graph import Graph

logger = logging.getLogger(__name__)


class GapError(Exception):
    """An event arrived that does not directly follow the folded tail: read the log to catch up."""


REFUSALS_KEPT = 64


@dataclass(slots=True)
class Dispatch:
    node_id: str
    sequence: int
    scheduled_at: datetime
    started: bool = False
    work_seq: int | None = None
    """Stream sequence of the work item in JAMJET_WORK, once this process published it."""
    started_by: str | None = None
    """The worker that started its last attempt (``NodeStarted.worker_id``)."""


@dataclass(slots=True)
class Progress:
    tenant: str
    execution_id: str
    workflow_id: str = ""
    workflow_version: str = ""
    tail: Tail = EMPTY
    state: dict[str, Any] = field(default_factory=dict)
    in_flight: dict[str, Dispatch] = field(default_factory=dict)
    completed: set[str] = field(default_factory=set)
    routes: dict[str, str | None] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    started: bool = False
    started_at: datetime | None = None
    terminal: str | None = None
    held: dict[str, int] = field(default_factory=dict)
    """Nodes waiting for a human: node → sequence of its ToolApprovalRequired."""
    decided: dict[str, ApprovalReceived] = field(default_factory=dict)
    """Decisions on held nodes that the planner has yet to act on."""
    approvals: dict[str, str] = field(default_factory=dict)
    """Approved nodes, dispatched again with the approver's id so the worker does not ask twice."""
    budget: BudgetState = field(default_factory=BudgetState)
    last_completed: str | None = None
    signals: dict[str, tuple[int, Any]] = field(default_factory=dict)
    """External events by correlation key: sequence and payload of the latest."""
    fired: set[str] = field(default_factory=set)
    """Wait nodes whose timer fired during their current dispatch."""
    excluded: dict[str, set[str]] = field(default_factory=dict)
    """Out-edges a completed node turned off (a human_approval's fallback, or all but it)."""
    trace: dict[str, str] = field(default_factory=dict)
    """The workflow span's ``traceparent`` (stored with WorkflowStarted), for every later message."""
    cancels: dict[str, int] = field(default_factory=dict)
    """Dispatches of a node cancelled while the execution was running: bounds its dispatching again."""
    refused: dict[int, refusals.RefusedEventError] = field(default_factory=dict)
    """Events refused by the fold (``jamjet_common.refusals``): stream sequence → why."""
    graph: Graph | None = None
    """The workflow version's graph, once read: a NodeScheduled is checked against it (``readiness``)."""
    planned: int = 0
    """The tail's stream sequence after the last plan that left nothing to do: an event up to it (this
    scheduler's own, coming back through the partition) needs no plan of its own."""
    foreign: set[str] = field(default_factory=set)
    """Nodes whose NodeScheduled another writer appended: their work item (or hold) is this
    scheduler's to see to, as for its own dispatches."""

    def settled(self, node_id: str) -> bool:
        return node_id in self.completed or node_id in self.skipped or node_id in self.failed

    @property
    def settled_nodes(self) -> set[str]:
        """Nodes with a final outcome: completed, skipped or failed."""
        return self.completed | self.skipped | self.failed.keys()

    def apply(
        self,
        event: Event,
        stream_seq: int,
        headers: Mapping[str, str] | None = None,
        *,
        from_log: bool = False,
    ) -> bool:
        """Fold ``event``; False if it was folded already or is refused (see ``self.refused``).

        An event that does not follow the tail is refused when read from the log (``from_log``: the
        log is the truth), else it raises GapError: what was delivered says only that events were
        missed, and the caller reads the log. ``headers`` are the event's message headers, where
        WorkflowStarted keeps the trace context.
        """
        if stream_seq <= self.tail.stream_seq:
            return False
        wrong = refusals.out_of_sequence(event.sequence, self.tail.sequence)
        if wrong is not None and not from_log:
            raise GapError(f"{self.execution_id}: got sequence {event.sequence} after {self.tail.sequence}")
        if wrong is not None:
            return self._refuse(Tail(self.tail.sequence, stream_seq), wrong)
        self.tail = Tail(event.sequence, stream_seq)
        reason = self._impossible(event.kind)
        if reason is not None and not self.terminal:
            return self._refuse(self.tail, reason)
        self._fold(event)
        if headers and isinstance(event.kind, WorkflowStarted):
            self.trace = telemetry.carrier(headers)
        return True

    def _impossible(self, kind: EventKind) -> refusals.RefusedEventError | None:
        reason = refusals.impossible(kind, started=self.started, in_flight=self.in_flight)
        if reason is not None or not isinstance(kind, NodeScheduled):
            return reason
        if self.graph is None:  # the rule the event store applies too
            return refusals.unschedulable(kind.node_id, settled=self.settled_nodes, nodes=None)
        return readiness.dispatch_refusal(self, self.graph, kind.node_id)

    def step_over(self, stream_seq: int, error: str) -> None:
        """A message of the log that is no event: refused, like an event out of sequence."""
        if stream_seq > self.tail.stream_seq:
            self._refuse(Tail(self.tail.sequence, stream_seq), refusals.not_an_event(error))

    def _refuse(self, tail: Tail, why: refusals.RefusedEventError) -> bool:
        """Step over a refused event: the log position moves past it, the fold does not change."""
        logger.warning("%s: stream seq %d refused: %s", self.execution_id, tail.stream_seq, why)
        self.tail = tail
        self.refused[tail.stream_seq] = why
        while len(self.refused) > REFUSALS_KEPT:
            del self.refused[next(iter(self.refused))]
        return False

    def _fold(self, event: Event) -> None:
        match event.kind:
            case WorkflowStarted(workflow_id=wf, workflow_version=version, initial_input=data):
                self.workflow_id, self.workflow_version, self.started = wf, version, True
                self.started_at = event.created_at
                self.state = dict(data) if isinstance(data, dict) else {}
            case WorkflowCompleted():
                self.terminal = "completed"
            case WorkflowFailed():
                self.terminal = "failed"
            case WorkflowCancelled():
                self.terminal = "cancelled"
            case _:
                self._fold_node(event)

    def _fold_node(self, event: Event) -> None:
        match event.kind:
            case NodeScheduled(node_id=node_id):
                self.in_flight[node_id] = Dispatch(node_id, event.sequence, event.created_at)
                self._redispatched(node_id)
                self.fired.discard(node_id)
            case NodeStarted(node_id=node_id, worker_id=worker_id):
                if (flight := self.in_flight.get(node_id)) is not None:
                    flight.started, flight.started_by = True, worker_id
            case NodeCompleted():
                self._completed(event.kind)
            case NodeFailed(node_id=node_id, retryable=retryable, error=error):
                self._failed(node_id, error, retryable)
            case NodeSkipped(node_id=node_id):
                self.in_flight.pop(node_id, None)
                self.skipped.add(node_id)
            case NodeCancelled(node_id=node_id):
                self.in_flight.pop(node_id, None)
                self._unhold(node_id)
                if not self.terminal:
                    self.cancels[node_id] = self.cancels.get(node_id, 0) + 1
            case _:
                self._fold_outside(event)

    def _fold_outside(self, event: Event) -> None:
        """Events from outside the node lifecycle: humans, signals, timers."""
        match event.kind:
            case ToolApprovalRequired(node_id=node_id):
                if node_id in self.in_flight:
                    self.held[node_id] = event.sequence
            case ApprovalReceived():
                self._decision(event.kind)
            case ExternalEventReceived(correlation_key=key, payload=payload):
                self.signals[key] = (event.sequence, payload)
            case TimerFired(node_id=node_id):
                if node_id in self.in_flight:
                    self.fired.add(node_id)
            case _:
                pass

    def _failed(self, node_id: str, error: str, retryable: bool) -> None:
        if node_id not in self.in_flight:
            return
        self.budget.failed()
        self.state[BUDGET_KEY] = self.budget.as_state()
        if not retryable:
            del self.in_flight[node_id]
            self.failed[node_id] = error
            self._unhold(node_id)

    def _decision(self, kind: ApprovalReceived) -> None:
        if self.held.pop(kind.node_id, None) is None:
            return  # a decision nobody asked for, or a second one: the first decision wins
        self.decided[kind.node_id] = kind
        merge_into(self.state, kind.state_patch)

    def _redispatched(self, node_id: str) -> None:
        decision = self.decided.pop(node_id, None)
        if decision is not None and decision.decision == "approved":
            self.approvals[node_id] = decision.user_id

    def _unhold(self, node_id: str) -> None:
        self.held.pop(node_id, None)
        self.decided.pop(node_id, None)

    @property
    def waiting(self) -> bool:
        return bool(self.held)

    def _completed(self, kind: NodeCompleted) -> None:
        if self.in_flight.pop(kind.node_id, None) is None:
            return  # after the end: a late outcome of a stopped dispatch changes nothing
        self._unhold(kind.node_id)
        self.completed.add(kind.node_id)
        merge_into(self.state, kind.state_patch)
        self.last_completed = kind.node_id
        if self.budget.completed(kind):
            self.state[BUDGET_KEY] = self.budget.as_state()
        if isinstance(kind.output, dict) and isinstance(kind.output.get("excluded_targets"), list):
            self.excluded[kind.node_id] = {str(t) for t in kind.output["excluded_targets"]}
        if isinstance(kind.output, dict) and "chosen_target" in kind.output:
            target = kind.output["chosen_target"]
            self.routes[kind.node_id] = target if isinstance(target, str) else None
