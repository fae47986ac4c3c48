"""Small builders of IR and events for scheduler tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from jamjet_common.events import Event, EventKind
from jamjet_common.ir import WorkflowIr
from services.scheduler.graph import Graph
from services.scheduler.progress import Progress


def fn(node_id: str, function: str = "noop", module: str = "tests.fns") -> dict[str, Any]:
    return {"id": node_id, "kind": {"type": "python_fn", "module": module, "function": function}}


def cond(node_id: str, branches: list[tuple[str | None, str]]) -> dict[str, Any]:
    return {
        "id": node_id,
        "kind": {"type": "condition", "branches": [{"condition": c, "target": t} for c, t in branches]},
    }


def workflow(
    nodes: list[dict[str, Any]], edges: list[tuple[str, str]], start: str | None = None, wf: str = "wf"
) -> dict[str, Any]:
    return {
        "workflow_id": wf,
        "version": "1.0.0",
        "state_schema": "{}",
        "start_node": start or nodes[0]["id"],
        "nodes": {n["id"]: n for n in nodes},
        "edges": [{"from": a, "to": b} for a, b in edges],
        "retry_policies": {},
        "models": {},
        "tools": {},
        "mcp_servers": {},
        "remote_agents": {},
    }


def graph_of(ir: dict[str, Any]) -> Graph:
    return Graph.compile(msgspec.convert(ir, WorkflowIr))


class Log:
    """An in-memory event sequence folded into a Progress, for planner tests."""

    def __init__(self) -> None:
        self.progress = Progress("default", "exec_test")
        self.events: list[Event] = []

    def add(self, kind: EventKind) -> Event:
        seq = len(self.events) + 1
        event = Event(
            id=f"e{seq}", execution_id="exec_test", sequence=seq, created_at=datetime.now(UTC), kind=kind
        )
        self.events.append(event)
        self.progress.apply(event, seq)
        return event
