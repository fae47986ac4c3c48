"""The rows the fold works on: one execution's ``executions`` row and the approvals it changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from jamjet_common.budget import BUDGET_KEY, BudgetState
from jamjet_common.events import EventKind

_UNDECODED: Any = object()


@dataclass(frozen=True, slots=True)
class LogEntry:
    """What the fold needs of one stored event."""

    sequence: int
    tenant: str
    created_at: datetime
    kind: EventKind


class FoldState(msgspec.Struct, frozen=True, kw_only=True):
    """The part of the scheduler's view of an execution that the fold needs to mirror it.

    Stored in ``executions.fold_state``; NULL there means the row was folded before the column existed
    and must be folded again from the log (``refold.py``).
    """

    in_flight: list[str] = []
    """Dispatched nodes without an outcome yet: only their completions count (as in the scheduler)."""
    held: dict[str, int] = {}
    """Nodes waiting for a human: node id → sequence of its pending request."""
    budget: dict[str, Any] | None = None
    """The budget fold (``BudgetState`` fields); None in rows folded before it was kept here."""
    settled: list[str] = []
    """Nodes with a final outcome (completed, failed, skipped): a dispatch of one again is forged."""


FOLD_STATE_DECODER = msgspec.json.Decoder(FoldState)
KIND_DECODER = msgspec.json.Decoder(EventKind)


@dataclass(slots=True)
class Approval:
    """One ``approvals`` row as this fold leaves it; ``is_new`` if the fold created it."""

    node_id: str
    requested_seq: int
    status: str = "pending"
    is_new: bool = False
    tool_name: str = ""
    approver: str = ""
    context_json: str = "null"
    requested_at: datetime | None = None
    user_id: str | None = None
    comment: str | None = None
    decided_seq: int | None = None
    decided_at: datetime | None = None


@dataclass(slots=True)
class ExecutionRow:
    """One ``executions`` row; JSON columns stay as their stored text until a patch needs them."""

    execution_id: str
    tenant: str
    workflow_id: str
    workflow_version: str
    status: str
    initial_input_json: str
    state_json: str
    last_sequence: int
    started_at: datetime
    updated_at: datetime
    error: str | None = None
    completed_at: datetime | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    budget: BudgetState = field(default_factory=BudgetState)
    """The scheduler's budget fold; the token and cost columns above are its totals."""
    in_flight: set[str] = field(default_factory=set)
    settled: set[str] = field(default_factory=set)
    nodes: frozenset[str] | None = None
    """The nodes the workflow version runs, when the store has it (not stored with the row)."""
    held: dict[str, int] = field(default_factory=dict)
    approvals: dict[int, Approval] = field(default_factory=dict)
    """Approvals rows this fold created or resolved, by requested sequence."""
    is_new: bool = False
    stale: bool = False
    """Folded before fold_state existed: to be folded again from the log before anything else."""
    changed: bool = False
    state_dirty: bool = False
    fold_dirty: bool = False
    _state: Any = field(default=_UNDECODED, repr=False)

    @property
    def state(self) -> Any:
        if self._state is _UNDECODED:
            self._state = msgspec.json.decode(self.state_json)
        return self._state

    def set_state(self, value: Any) -> None:
        self._state = value
        self.state_json = msgspec.json.encode(value).decode()
        self.state_dirty = True

    def load_fold_state(self, stored: FoldState) -> None:
        self.in_flight = set(stored.in_flight)
        self.settled = set(stored.settled)
        self.held = dict(stored.held)
        self.budget = BudgetState.from_state(
            stored.budget if stored.budget is not None else self._kept_budget()
        )

    def _kept_budget(self) -> dict[str, Any]:
        """A row from before the fold state kept the budget: counters from the state, totals from columns."""
        kept = self.state.get(BUDGET_KEY) if isinstance(self.state, dict) else None
        totals = {
            "total_input_tokens": self.input_tokens,
            "total_output_tokens": self.output_tokens,
            "total_cost_usd": self.cost_usd,
        }
        return {**(kept if isinstance(kept, dict) else {}), **totals}

    def fold_state_json(self) -> str:
        budget = self.budget.as_state()
        return msgspec.json.encode(
            FoldState(
                in_flight=sorted(self.in_flight), held=self.held, budget=budget, settled=sorted(self.settled)
            )
        ).decode()
