"""What a scenario left behind, gathered once everything is terminal: the input of the invariants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.faults.workflows import Planned

Event = dict[str, Any]
DispatchKey = tuple[str, int]
"""(execution_id, sequence of the dispatch's NodeScheduled event)."""


@dataclass(slots=True)
class Observations:
    planned: dict[str, Planned]
    workflows: dict[str, dict[str, Any]]
    stream: dict[str, list[Event]]
    """Each execution's events in EVENTS stream order."""
    stream_problem: str | None = None
    """Why the collected events may not be the whole stream (None: they are)."""
    postgres_events: dict[str, list[Event]] = field(default_factory=dict)
    postgres_status: dict[str, str] = field(default_factory=dict)
    work_left: int = 0
    dlq_work: list[DispatchKey] = field(default_factory=list)
    dlq_decode: list[str] = field(default_factory=list)
    table_dead_letters: list[DispatchKey] | None = None
    """None when Postgres has no ``dead_letters`` table."""
    table_problem: str | None = None

    def node_ids(self, execution_id: str) -> list[str]:
        workflow_id = self.planned[execution_id].workflow_id
        return list(self.workflows[workflow_id]["nodes"])
