"""Eval nodes through the running services: what each on_fail does to the execution, and an
llm_judge scored by the OpenAI-compatible fake."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.stack import Stack
from tests.evals.judge import scored
from tests.evals.stack import eval_services, eval_workflow
from tests.executors.fake_http import FakeHttpServer, Reply

pytestmark = pytest.mark.e2e

FAILING = [{"type": "assertion", "checks": ['output.answer == "forty-two"', "output.grade == 1"]}]


def kinds_of(stack: Stack, execution_id: str, node_id: str) -> list[dict[str, Any]]:
    return [e["kind"] for e in stack.recorder.events[execution_id] if e["kind"].get("node_id") == node_id]


async def run_one(stack: Stack, ir: dict[str, Any], **extra: str) -> str:
    async with eval_services(stack, **extra):
        await stack.register(ir)
        execution_id = await stack.start(ir["workflow_id"])
        await stack.all_terminal([execution_id])
    return execution_id


async def test_halt_fails_the_node_and_the_workflow(stack: Stack) -> None:
    execution_id = await run_one(stack, eval_workflow("halting", FAILING, on_fail="halt"))
    check = kinds_of(stack, execution_id, "check")
    assert [k["type"] for k in check] == ["node_scheduled", "node_started", "node_failed"]
    assert check[-1]["retryable"] is False and "eval 'check' failed: assertion" in check[-1]["error"]
    assert stack.recorder.terminal[execution_id] == "workflow_failed"
    assert kinds_of(stack, execution_id, "after") == []


async def test_retry_with_feedback_retries_max_retries_times_then_fails(stack: Stack) -> None:
    ir = eval_workflow("retrying", FAILING, on_fail="retry_with_feedback", max_retries=2)
    execution_id = await run_one(stack, ir)
    check = kinds_of(stack, execution_id, "check")
    assert [k["attempt"] for k in check if k["type"] == "node_started"] == [0, 1, 2]
    failures = [k for k in check if k["type"] == "node_failed"]
    assert [f["retryable"] for f in failures] == [True, True, False]
    assert "retry 1 of 2" in failures[0]["error"] and "output.grade == 1" in failures[0]["error"]
    assert "after 2 retries" in failures[-1]["error"]
    assert [k["attempt"] for k in check if k["type"] == "retry_scheduled"] == [1, 2]
    assert stack.recorder.terminal[execution_id] == "workflow_failed"


async def test_log_and_continue_completes_with_the_failed_verdict_in_the_state(stack: Stack) -> None:
    execution_id = await run_one(stack, eval_workflow("lenient", FAILING, on_fail="log_and_continue"))
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    final = stack.recorder.events[execution_id][-1]["kind"]["final_state"]
    assert final["eval_passed"] is False and final["eval_action"] == "log_and_continue"
    assert final["eval_results"][0]["score"] == 0.5 and final["after_ran"] is True
    completed = next(k for k in kinds_of(stack, execution_id, "check") if k["type"] == "node_completed")
    assert completed["output"]["passed"] is False and completed["output"]["on_fail"] == "log_and_continue"


async def test_llm_judge_through_the_services(stack: Stack, fake: FakeHttpServer) -> None:
    fake.reply(Reply(body=scored(5, "spot on")))
    judge = {"type": "llm_judge", "model": "gpt-4o-mini", "rubric": "Answers the question.", "min_score": 4}
    ir = eval_workflow("judged", [judge], input_expr="answer")
    execution_id = await run_one(stack, ir, JAMJET_MODEL_BASE_URL=fake.url, JAMJET_MODEL_API_KEY="sk-test")
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    completed = next(k for k in kinds_of(stack, execution_id, "check") if k["type"] == "node_completed")
    assert completed["output"]["scorers"] == [
        {"scorer": "llm_judge", "passed": True, "score": 5.0, "message": "spot on"}
    ]
    assert (completed["input_tokens"], completed["output_tokens"]) == (300, 20)
    assert "forty-two" in fake.last.json()["messages"][1]["content"]
    assert fake.last.headers["authorization"] == "Bearer sk-test"
    final = stack.recorder.events[execution_id][-1]["kind"]["final_state"]
    assert final["eval_action"] == "continue" and final["__budget"]["total_input_tokens"] == 300
