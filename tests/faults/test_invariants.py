"""The invariant checks themselves, on hand-written logs: each must catch the fault it names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.collect import dead_letter_key
from tests.faults.invariants import Check, check_all
from tests.faults.observations import Event, Observations
from tests.faults.workflows import Planned

EXEC = "exec-1"
WORKFLOW: dict[str, Any] = {"nodes": {"a": {}, "b": {}}}


def log(*kinds: dict[str, Any]) -> list[Event]:
    return [{"id": f"id-{i}", "execution_id": EXEC, "sequence": i, "kind": k} for i, k in enumerate(kinds, 1)]


def scheduled(node: str) -> dict[str, Any]:
    return {"type": "node_scheduled", "node_id": node, "queue_type": "python_tool"}


def started(node: str, attempt: int = 0) -> dict[str, Any]:
    return {"type": "node_started", "node_id": node, "worker_id": "w", "attempt": attempt}


def completed(node: str) -> dict[str, Any]:
    return {"type": "node_completed", "node_id": node}


def failed(node: str, error: str, *, retryable: bool, attempt: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "type": "node_failed",
        "node_id": node,
        "error": error,
        "attempt": attempt,
        "retryable": retryable,
        **fields,
    }


def retry(node: str, attempt: int = 1) -> dict[str, Any]:
    return {"type": "retry_scheduled", "node_id": node, "attempt": attempt, "delay_ms": 2000}


START = {"type": "workflow_started", "workflow_id": "wf", "workflow_version": "1"}
DONE = {"type": "workflow_completed"}
FAILED = {"type": "workflow_failed", "error": "node(s) failed"}
NODE_B = (scheduled("b"), started("b"), completed("b"), DONE)
HEALTHY = log(START, scheduled("a"), started("a"), completed("a"), *NODE_B)


def observe(events: list[Event], status: str = "completed", **fields: Any) -> Observations:
    obs = Observations({EXEC: Planned(EXEC, "wf", "chain")}, {"wf": WORKFLOW}, {EXEC: events})
    obs.postgres_events = {EXEC: [dict(e) for e in events]}
    obs.postgres_status = {EXEC: status}
    obs.table_dead_letters = []
    for name, value in fields.items():
        setattr(obs, name, value)
    return obs


def failing(obs: Observations) -> set[str]:
    return {check.key for check in check_all(obs) if not check.ok}


def test_a_healthy_log_passes_every_check() -> None:
    assert failing(observe(HEALTHY)) == set()


def test_two_completions_of_one_dispatch_fail_3a() -> None:
    events = log(START, scheduled("a"), started("a"), completed("a"), completed("a"), *NODE_B)
    assert "3a" in failing(observe(events))


def test_a_dispatch_without_outcome_in_a_finished_execution_fails_3a_and_1() -> None:
    events = log(START, scheduled("a"), started("a"), completed("a"), scheduled("b"), started("b"), DONE)
    assert {"1", "3a"} <= failing(observe(events))


def test_a_retryable_failure_never_retried_fails_3b() -> None:
    events = log(START, scheduled("a"), started("a"), failed("a", "boom", retryable=True), FAILED)
    assert "3b" in failing(observe(events, "failed"))


EXHAUSTION = {"attempts": 2, "last_error": "boom"}


@pytest.mark.parametrize("error", ["exhausted 2 attempts: boom", "reworded"])
def test_an_exhausted_dispatch_passes_3b_only_when_dead_lettered(error: str) -> None:
    exhausted = failed("a", error, retryable=False, attempt=1, exhausted=EXHAUSTION)
    attempts = (started("a"), failed("a", "boom", retryable=True), retry("a"), started("a", 1), exhausted)
    events = log(START, scheduled("a"), *attempts, FAILED)
    assert failing(observe(events, "failed", dlq_work=[(EXEC, 2)], table_dead_letters=[(EXEC, 2)])) == set()
    assert failing(observe(events, "failed")) == {"4b", "4c"}


def test_the_exhaustion_text_without_its_field_is_a_fatal_failure() -> None:
    fatal = failed("a", "exhausted 2 attempts: boom", retryable=False, attempt=1)
    attempts = (started("a"), failed("a", "boom", retryable=True), retry("a"), started("a", 1), fatal)
    events = log(START, scheduled("a"), *attempts, FAILED)
    assert failing(observe(events, "failed")) == set()
    dead_lettered = observe(events, "failed", dlq_work=[(EXEC, 2)], table_dead_letters=[(EXEC, 2)])
    assert failing(dead_lettered) == {"4b", "4c"}


def test_a_dead_letter_of_a_dispatch_that_completed_fails_4b() -> None:
    assert "4b" in failing(observe(HEALTHY, dlq_work=[(EXEC, 2)]))


def test_a_silent_restart_fails_3c() -> None:
    events = log(START, scheduled("a"), started("a"), started("a", 1), completed("a"), *NODE_B)
    assert failing(observe(events)) == {"3c"}


@pytest.mark.parametrize("error", ["lease expired: worker presumed dead", "reworded"])
@pytest.mark.parametrize("with_retry", [True, False])
def test_a_lease_expiry_needs_a_retry_scheduled(with_retry: bool, error: str) -> None:
    expired = failed("a", error, retryable=True, lease_expired=True)
    attempt = (started("a"), expired, *([retry("a")] if with_retry else []), started("a", 1), completed("a"))
    events = log(START, scheduled("a"), *attempt, *NODE_B)
    assert failing(observe(events)) == (set() if with_retry else {"3c"})


def test_a_gap_in_sequences_fails_2a() -> None:
    events = [e for e in HEALTHY if e["sequence"] != 3]
    assert "2a" in failing(observe(events))


def test_postgres_missing_an_event_fails_2b() -> None:
    obs = observe(HEALTHY)
    obs.postgres_events[EXEC] = obs.postgres_events[EXEC][:-1]
    assert failing(obs) == {"2b"}


def test_an_execution_stuck_in_running_fails_1() -> None:
    assert "1" in failing(observe(HEALTHY[:-1], "running"))


def test_postgres_status_other_than_the_stream_fails_1() -> None:
    assert failing(observe(HEALTHY, "running")) == {"1"}


def test_completed_although_a_node_failed_fails_1() -> None:
    events = log(START, scheduled("a"), started("a"), failed("a", "ValueError: x", retryable=False), DONE)
    assert "1" in failing(observe(events))


def test_a_fatal_execution_that_completed_fails_1() -> None:
    obs = observe(HEALTHY)
    obs.planned[EXEC] = Planned(EXEC, "wf", "fatal")
    assert failing(obs) == {"1"}


def test_work_left_in_the_stream_fails_4a() -> None:
    assert failing(observe(HEALTHY, work_left=2)) == {"4a"}


def test_no_dead_letters_table_fails_4c() -> None:
    assert failing(observe(HEALTHY, table_dead_letters=None)) == {"4c"}


@pytest.mark.parametrize(
    "row",
    [
        {"execution_id": EXEC, "dispatch": 5, "last_error": "x"},
        {"id": 1, "item": {"execution_id": EXEC, "dispatch": 5}},
        {"id": 1, "work_item": '{"execution_id": "exec-1", "dispatch": 5}'},
    ],
)
def test_dead_letter_rows_name_their_dispatch(row: dict[str, Any]) -> None:
    assert dead_letter_key(row) == (EXEC, 5)


def test_a_failed_check_shows_its_problems() -> None:
    check = Check("9", "title", tuple(f"p{i}" for i in range(6)), "summary")
    assert not check.ok
    assert "p0" in check.line() and "and 2 more" in check.line()
