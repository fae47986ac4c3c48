"""The original scheduler's behaviours, at the fold-and-plan level."""

from __future__ import annotations

import pytest

from jamjet_common.events import (
    NodeCompleted,
    NodeFailed,
    NodeScheduled,
    NodeSkipped,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowStarted,
)
from services.scheduler.planner import Limits, Plan, plan
from services.scheduler.progress import GapError
from tests.scheduler.builders import Log, cond, fn, graph_of, workflow

LIMITS = Limits()


def start(log: Log, data: dict[str, object] | None = None) -> None:
    log.add(WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input=data or {}))


def execute(log: Log, decided: Plan, outputs: dict[str, object] | None = None) -> None:
    """Apply a plan as the scheduler and workers would: skip, schedule, complete."""
    for node_id in decided.skips:
        log.add(NodeSkipped(node_id=node_id, reason="branch not taken"))
    for node_id in decided.dispatches:
        log.add(NodeScheduled(node_id=node_id, queue_type="python_tool"))
    for node_id in decided.dispatches:
        output = (outputs or {}).get(node_id, {})
        patch = {} if "chosen_target" in output else output  # type: ignore[operator]
        log.add(NodeCompleted(node_id=node_id, output=output, state_patch=patch))


def test_dependency_order_and_completion_with_merged_state() -> None:
    graph = graph_of(workflow([fn("a"), fn("b")], [("a", "b"), ("b", "end")]))
    log = Log()
    start(log, {"seed": 1})
    first = plan(log.progress, graph, LIMITS)
    assert first.dispatches == ["a"] and first.finish is None
    execute(log, first, {"a": {"x": 1, "nested": {"k": 1, "drop": 2}}})
    second = plan(log.progress, graph, LIMITS)
    assert second.dispatches == ["b"]
    execute(log, second, {"b": {"y": 2, "nested": {"drop": None, "k2": 3}}})
    final = plan(log.progress, graph, LIMITS)
    assert final.finish == WorkflowCompleted(
        final_state={"seed": 1, "x": 1, "y": 2, "nested": {"k": 1, "k2": 3}}
    )


def test_terminal_node_failure_fails_the_workflow() -> None:
    graph = graph_of(workflow([fn("a"), fn("b"), fn("c")], [("a", "b"), ("a", "c")]))
    log = Log()
    start(log)
    execute(log, plan(log.progress, graph, LIMITS))
    fanout = plan(log.progress, graph, LIMITS)
    assert fanout.dispatches == ["b", "c"]
    for node_id in fanout.dispatches:
        log.add(NodeScheduled(node_id=node_id, queue_type="python_tool"))
    log.add(NodeFailed(node_id="c", error="boom", attempt=0, retryable=False))
    log.add(NodeFailed(node_id="b", error="boom", attempt=0, retryable=False))
    assert plan(log.progress, graph, LIMITS).finish == WorkflowFailed(error="node(s) failed terminally: b, c")


def test_retryable_failure_keeps_the_node_in_flight() -> None:
    graph = graph_of(workflow([fn("a")], []))
    log = Log()
    start(log)
    log.add(NodeScheduled(node_id="a", queue_type="python_tool"))
    log.add(NodeFailed(node_id="a", error="flaky", attempt=0, retryable=True))
    assert not plan(log.progress, graph, LIMITS)


def routed_diamond() -> dict[str, object]:
    return workflow(
        [cond("c", [("state.go_left", "l"), (None, "r")]), fn("l"), fn("r"), fn("j")],
        [("c", "l"), ("c", "r"), ("l", "j"), ("r", "j"), ("j", "end")],
    )


def test_condition_routes_skips_dead_branch_and_join_survives() -> None:
    graph = graph_of(routed_diamond())
    log = Log()
    start(log)
    execute(log, plan(log.progress, graph, LIMITS), {"c": {"chosen_target": "l"}})
    after_route = plan(log.progress, graph, LIMITS)
    assert after_route.skips == ["r"] and after_route.dispatches == ["l"]
    execute(log, after_route)
    join = plan(log.progress, graph, LIMITS)
    assert join.dispatches == ["j"] and not join.skips
    execute(log, join)
    assert isinstance(plan(log.progress, graph, LIMITS).finish, WorkflowCompleted)
    assert log.progress.skipped == {"r"}


def test_pass_through_condition_runs_all_successors() -> None:
    graph = graph_of(workflow([cond("c", []), fn("a"), fn("b")], [("c", "a"), ("c", "b")]))
    log = Log()
    start(log)
    execute(log, plan(log.progress, graph, LIMITS), {"c": {}})
    decided = plan(log.progress, graph, LIMITS)
    assert decided.dispatches == ["a", "b"] and decided.skips == []


def test_no_matching_branch_skips_all_targets_and_terminates() -> None:
    graph = graph_of(routed_diamond())
    log = Log()
    start(log)
    execute(log, plan(log.progress, graph, LIMITS), {"c": {"chosen_target": None}})
    decided = plan(log.progress, graph, LIMITS)
    assert decided.skips == ["l", "r", "j"]
    assert isinstance(decided.finish, WorkflowCompleted)


def test_agent_loop_early_exit_skips_unused_turns() -> None:
    ir = workflow(
        [
            fn("model_0"),
            cond("gate_0", [('state.last_model_finish_reason == "tool_calls"', "tools_0"), (None, "end")]),
            fn("tools_0"),
            fn("model_1"),
        ],
        [("model_0", "gate_0"), ("gate_0", "tools_0"), ("gate_0", "end"), ("tools_0", "model_1")],
    )
    graph = graph_of(ir)
    log = Log()
    start(log)
    execute(log, plan(log.progress, graph, LIMITS))
    execute(log, plan(log.progress, graph, LIMITS), {"gate_0": {"chosen_target": "end"}})
    decided = plan(log.progress, graph, LIMITS)
    assert decided.skips == ["tools_0", "model_1"]


def test_concurrency_caps_and_no_starvation() -> None:
    leaves = [fn(f"b{i}") for i in range(20)]
    graph = graph_of(workflow([fn("a"), *leaves], [("a", n["id"]) for n in leaves]))
    log = Log()
    start(log)
    execute(log, plan(log.progress, graph, LIMITS))
    dispatched: list[str] = []
    for _ in range(10):
        decided = plan(log.progress, graph, Limits(max_concurrent_nodes=16, max_dispatch_per_pass=8))
        assert len(decided.dispatches) <= 8
        for node_id in decided.dispatches:
            log.add(NodeScheduled(node_id=node_id, queue_type="python_tool"))
        assert len(log.progress.in_flight) <= 16
        dispatched += decided.dispatches
        oldest = next(iter(log.progress.in_flight), None)
        if oldest is not None:
            log.add(NodeCompleted(node_id=oldest, output={}, state_patch={}))
    assert sorted(dispatched) == sorted(n["id"] for n in leaves)


def test_a_plan_says_whether_a_pass_right_after_it_would_do_more() -> None:
    """The scheduler plans again at once while a pass is not complete, and only then treats the deliveries
    of its own events as planned on (``Executions.advance``)."""
    leaves = [fn(f"b{i}") for i in range(10)]
    graph = graph_of(workflow([fn("a"), *leaves], [("a", n["id"]) for n in leaves]))
    log = Log()
    start(log)
    first = plan(log.progress, graph, LIMITS)
    assert first.dispatches == ["a"] and first.complete
    execute(log, first)
    capped = plan(log.progress, graph, Limits(max_concurrent_nodes=16, max_dispatch_per_pass=8))
    assert len(capped.dispatches) == 8 and not capped.complete
    for node_id in capped.dispatches:
        log.add(NodeScheduled(node_id=node_id, queue_type="python_tool"))
    rest = plan(log.progress, graph, Limits(max_concurrent_nodes=16, max_dispatch_per_pass=8))
    assert len(rest.dispatches) == 2 and rest.complete
    for node_id in rest.dispatches:
        log.add(NodeScheduled(node_id=node_id, queue_type="python_tool"))
    assert plan(log.progress, graph, LIMITS).complete  # nothing to do: complete
    full = plan(log.progress, graph, Limits(max_concurrent_nodes=10))
    assert not full.dispatches and full.complete


def test_a_pass_that_dispatches_a_held_node_is_not_complete() -> None:
    hold = {"id": "hold", "kind": {"type": "wait", "condition": "external_event", "correlation_key": "k"}}
    graph = graph_of(workflow([fn("a"), hold], [("a", "hold"), ("hold", "end")]))
    log = Log()
    start(log)
    execute(log, plan(log.progress, graph, LIMITS))
    waits = plan(log.progress, graph, LIMITS)
    assert waits.dispatches == ["hold"] and not waits.complete


def test_duplicate_outcome_is_ignored_and_gaps_are_detected() -> None:
    graph = graph_of(workflow([fn("a"), fn("b")], [("a", "b")]))
    log = Log()
    start(log)
    execute(log, plan(log.progress, graph, LIMITS), {"a": {"x": 1}})
    log.add(NodeCompleted(node_id="a", output={}, state_patch={"x": 2}))
    assert log.progress.state == {"x": 1}
    event = log.events[-1]
    gap = type(event)(
        id="z", execution_id=event.execution_id, sequence=99, created_at=event.created_at, kind=event.kind
    )
    with pytest.raises(GapError):
        log.progress.apply(gap, 1000)


def test_generated_execution_ids_are_stable_per_stored_command() -> None:
    from services.scheduler.commands import _generated_id

    assert _generated_id("JAMJET_CMDS:7:t") == _generated_id("JAMJET_CMDS:7:t")
    assert _generated_id("JAMJET_CMDS:7:t") != _generated_id("JAMJET_CMDS:8:t")
    assert _generated_id(None) != _generated_id(None)


def test_token_and_cost_budgets_fail_the_execution_after_the_node_that_overran() -> None:
    from jamjet_common.events import CostBudgetExceeded, TokenBudgetExceeded

    ir = workflow([fn("a"), fn("b"), fn("c")], [("a", "b"), ("b", "c")])
    ir["token_budget"] = {"total_tokens": 100}
    ir["cost_budget_usd"] = 0.5
    graph = graph_of(ir)
    log = Log()
    start(log)
    for node_id, tokens in (("a", 60), ("b", 50)):
        log.add(NodeScheduled(node_id=node_id, queue_type="python_tool"))
        log.add(
            NodeCompleted(node_id=node_id, output={}, state_patch={}, input_tokens=tokens, output_tokens=0)
        )
    decided = plan(log.progress, graph, LIMITS)
    assert decided.decided == [TokenBudgetExceeded(node_id="b", kind="total_tokens", limit=100, current=110)]
    assert decided.finish == WorkflowFailed(error="token budget exceeded: total_tokens 110 > 100")
    assert log.progress.state["__budget"]["total_input_tokens"] == 110

    cost_ir = workflow([fn("a"), fn("b")], [("a", "b")])
    cost_ir["cost_budget_usd"] = 0.5
    cost_log = Log()
    start(cost_log)
    cost_log.add(NodeScheduled(node_id="a", queue_type="python_tool"))
    cost_log.add(NodeCompleted(node_id="a", output={}, state_patch={}, cost_usd=0.75))
    over = plan(cost_log.progress, graph_of(cost_ir), LIMITS)
    assert over.decided == [CostBudgetExceeded(node_id="a", limit_usd=0.5, current_usd=0.75)]
    assert isinstance(over.finish, WorkflowFailed) and "cost budget exceeded" in over.finish.error
