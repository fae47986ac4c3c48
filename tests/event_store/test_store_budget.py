"""Token and cost totals: the fold's ``__budget`` equals the scheduler's, and jamjet.store.tenant_usage."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from jamjet_common.eventlog import EventLog, new_event
from jamjet_common.events import (
    EventKind,
    NodeCancelled,
    NodeCompleted,
    NodeFailed,
    NodeScheduled,
    NodeSkipped,
    ToolApprovalRequired,
    WorkflowCompleted,
)
from services.event_store.fold import fold
from services.event_store.governance import month_of
from services.event_store.rows import FOLD_STATE_DECODER, ExecutionRow, LogEntry
from services.event_store.service import EventStoreService
from services.scheduler.progress import Progress
from tests.event_store.conftest import ask
from tests.event_store.logs import append_all, decided, held, new_id, publish_at, ran, settled, started

TENANT = "acme"


def scheduler_view(execution_id: str, kinds: list[EventKind]) -> Progress:
    """The scheduler's own fold of the log."""
    progress = Progress(TENANT, execution_id)
    for sequence, kind in enumerate(kinds, start=1):
        progress.apply(new_event(execution_id, sequence, kind), stream_seq=sequence)
    return progress


def store_view(execution_id: str, kinds: list[EventKind]) -> ExecutionRow:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    entries = {seq: LogEntry(seq, TENANT, at, kind) for seq, kind in enumerate(kinds, start=1)}
    row = fold(None, execution_id, entries)
    assert row is not None
    return row


def random_log(rng: random.Random, steps: int) -> list[EventKind]:
    """A log with every way a node can end, duplicate and late outcomes, and human decisions."""
    kinds: list[EventKind] = [started({"seed": 1})]
    for _ in range(steps):
        node = f"n{rng.randrange(6)}"
        choice = rng.randrange(9)
        if choice < 3:
            kinds.append(NodeScheduled(node_id=node, queue_type="general"))
        elif choice < 6:
            kinds.append(_completion(rng, node))
        elif choice == 6:
            kinds.append(rng.choice(_endings(node)))
        elif choice == 7:
            kinds.append(ToolApprovalRequired(node_id=node, tool_name="t", approver="human"))
        else:
            verdict = rng.choice(["approved", "rejected"])
            kinds.append(decided(node, "u", verdict, state_patch={f"by_{node}": verdict}))
    return kinds


def _completion(rng: random.Random, node: str) -> NodeCompleted:
    tokens: dict[str, Any] = rng.choice(
        [
            {},
            {"input_tokens": rng.randrange(1, 500), "output_tokens": rng.randrange(0, 200)},
            {"cost_usd": rng.choice([0.1, 0.2, 0.0003, 1e-7])},
            {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0},
            {"input_tokens": rng.randrange(1, 50), "cost_usd": 0.01},
        ]
    )
    patch = {node: rng.randrange(100), "nested": {node: True}}
    return NodeCompleted(node_id=node, state_patch=patch, **tokens)


def _endings(node: str) -> list[EventKind]:
    return [
        NodeFailed(node_id=node, error="e", attempt=1, retryable=False),
        NodeFailed(node_id=node, error="e", attempt=1, retryable=True),
        NodeSkipped(node_id=node, reason="r"),
        NodeCancelled(node_id=node),
    ]


@pytest.mark.parametrize("seed", range(40))
def test_the_fold_mirrors_the_schedulers_state_budget_and_waiting_nodes(seed: int) -> None:
    kinds = random_log(random.Random(seed), 120)
    scheduler, store = scheduler_view("e1", kinds), store_view("e1", kinds)
    assert store.state == scheduler.state
    assert (store.input_tokens, store.output_tokens, store.cost_usd) == (
        scheduler.budget.total_input_tokens,
        scheduler.budget.total_output_tokens,
        scheduler.budget.total_cost_usd,
    )
    assert store.held == scheduler.held
    assert store.in_flight == set(scheduler.in_flight)
    pending = {a.node_id: a.requested_seq for a in store.approvals.values() if a.status == "pending"}
    assert pending == scheduler.held


def reloaded(row: ExecutionRow) -> ExecutionRow:
    """The row as the store's next batch reads it back: its columns and its fold state, nothing else."""
    again = ExecutionRow(
        execution_id=row.execution_id,
        tenant=row.tenant,
        workflow_id=row.workflow_id,
        workflow_version=row.workflow_version,
        status=row.status,
        initial_input_json=row.initial_input_json,
        state_json=row.state_json,
        last_sequence=row.last_sequence,
        started_at=row.started_at,
        updated_at=row.updated_at,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_usd=row.cost_usd,
    )
    again.load_fold_state(FOLD_STATE_DECODER.decode(row.fold_state_json()))
    return again


def store_view_in_batches(execution_id: str, kinds: list[EventKind], rng: random.Random) -> ExecutionRow:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    entries = {seq: LogEntry(seq, TENANT, at, kind) for seq, kind in enumerate(kinds, start=1)}
    row: ExecutionRow | None = None
    for end in [*sorted(rng.sample(range(1, len(kinds)), 6)), len(kinds)]:
        batch = {seq: entry for seq, entry in entries.items() if seq <= end}
        row = fold(reloaded(row) if row is not None else None, execution_id, batch)
    assert row is not None
    return row


def meddling_log(rng: random.Random, steps: int) -> list[EventKind]:
    """Nodes whose state patches write ``__budget`` themselves, between completions and failures."""
    kinds: list[EventKind] = [started({})]
    for _ in range(steps):
        node = f"n{rng.randrange(3)}"
        patch = rng.choice(
            [{}, {"__budget": {"iteration_count": 50, "tool_call_count": "x"}}, {"__budget": None}]
        )
        kinds += rng.choice(
            [
                [NodeScheduled(node_id=node, queue_type="general")],
                [NodeCompleted(node_id=node, state_patch=patch)],
                [NodeCompleted(node_id=node, input_tokens=rng.randrange(1, 9), state_patch=patch)],
                [NodeFailed(node_id=node, error="e", attempt=0, retryable=rng.random() < 0.7)],
            ]
        )
    return kinds


@pytest.mark.parametrize("seed", range(20))
def test_nodes_writing_budget_into_the_state_never_move_the_folds_apart(seed: int) -> None:
    rng = random.Random(seed)
    kinds = meddling_log(rng, 80)
    scheduler = scheduler_view("e1", kinds)
    for store in (store_view("e1", kinds), store_view_in_batches("e1", kinds, rng)):
        assert store.state == scheduler.state
        assert store.budget == scheduler.budget


def test_budget_is_written_only_when_a_node_reports_tokens_or_cost() -> None:
    kinds: list[EventKind] = [started({"a": 1}), *ran("x", state_patch={"b": 2})]
    assert "__budget" not in store_view("e1", kinds).state
    kinds += ran("y", input_tokens=0, output_tokens=0, cost_usd=0.0)
    assert "__budget" not in store_view("e1", kinds).state
    kinds += ran("z", output_tokens=7, state_patch={"__budget": None, "c": 3})
    state = store_view("e1", kinds).state
    assert state["c"] == 3 and state["__budget"]["total_output_tokens"] == 7
    assert state == scheduler_view("e1", kinds).state


async def test_budget_and_totals_through_the_store(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id = new_id()
    kinds = [
        started({"q": "x"}),
        *ran("a", input_tokens=100, output_tokens=20, cost_usd=0.001, state_patch={"a": 1}),
        NodeCompleted(node_id="a", input_tokens=999, cost_usd=9.0),  # a duplicate outcome: not counted
        *ran("b"),
        *ran("c", cost_usd=0.1),
        *ran("d", input_tokens=3, output_tokens=4),
    ]
    await append_all(log, TENANT, execution_id, kinds)
    row = await settled(pg, execution_id, len(kinds))
    scheduler = scheduler_view(execution_id, kinds)
    reply = await ask(nc, "execution", {"execution_id": execution_id})
    assert reply["execution"]["current_state"] == scheduler.state
    assert reply["execution"]["current_state"]["__budget"] == {
        "total_input_tokens": 103,
        "total_output_tokens": 24,
        "total_cost_usd": 0.001 + 0.1,
        "iteration_count": 2,  # a and d reported tokens: two model turns
        "tool_call_count": 0,
        "consecutive_error_count": 0,
        "circuit_breaker_tripped": False,
    }
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (103, 24, 0.001 + 0.1)
    assert json.loads(row["current_state"]) == scheduler.state


async def test_tenant_usage_counts_active_executions_and_this_months_usage(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    tenant, other = "usage-t1", "usage-t2"
    running, paused, finished, old = new_id(), new_id(), new_id(), new_id()
    await append_all(log, tenant, running, [started(), *ran("a", input_tokens=100, output_tokens=50)])
    await append_all(log, tenant, paused, [started(), *ran("a", input_tokens=10, cost_usd=0.25), *held("b")])
    done = [started(), *ran("a", output_tokens=6, cost_usd=0.5), WorkflowCompleted()]
    await append_all(log, tenant, finished, done)
    last_month = month_of(datetime.now(UTC)).start - timedelta(hours=1)
    await publish_at(
        nc.jetstream(), tenant, old, [started(), *ran("a", input_tokens=7000, cost_usd=9)], last_month
    )
    await append_all(log, other, new_id(), [started(), *ran("a", input_tokens=1, cost_usd=1.0)])
    for execution_id, length in ((running, 3), (paused, 5), (finished, 4), (old, 3)):
        await settled(pg, execution_id, length)

    reply = await ask(nc, "tenant_usage", {"tenant": tenant})
    assert reply == {
        "ok": True,
        "tenant": tenant,
        "running_executions": 3,  # running, paused, and the one started last month
        "month": datetime.now(UTC).strftime("%Y-%m"),
        "tokens_this_month": 166,
        "input_tokens_this_month": 110,
        "output_tokens_this_month": 56,
        "cost_usd_this_month": pytest.approx(0.75),
    }
    empty = await ask(nc, "tenant_usage", {"tenant": "nobody"})
    assert (empty["running_executions"], empty["tokens_this_month"], empty["cost_usd_this_month"]) == (
        0,
        0,
        0,
    )


async def test_bad_tenant_usage_queries_get_specific_errors(nc: NATS, store: EventStoreService) -> None:
    for body, code in (
        ({"tenant": "a.b"}, "invalid_token"),
        ({}, "invalid_request"),
        ({"tenant": 3}, "invalid_request"),
    ):
        reply = await ask(nc, "tenant_usage", body)
        assert (reply["ok"], reply["error"]["code"]) == (False, code), body


def test_the_month_is_the_utc_calendar_month() -> None:
    december = month_of(datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert (december.label, december.start, december.end) == (
        "2025-12",
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    # Just after midnight on March 1st in UTC+2 is still February in UTC.
    early = month_of(datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))))
    assert (early.label, early.start, early.end) == (
        "2026-02",
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
