"""The eval executor on its own: each scorer passing and failing, on_fail actions, and llm_judge
against a real OpenAI-compatible fake on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from jamjet_common.errors import FatalError, RetryableError
from jamjet_common.ir import NodeDef
from services.worker.executors import ExecutionContext, ExecutionResult, ExecutorRegistry
from services.worker.executors.eval import EVAL_ERROR_CLASS, EvalExecutor
from services.worker.executors.model import ModelExecutor
from tests.evals.judge import judge_reply, scored
from tests.executors.builders import context, model_settings
from tests.executors.fake_http import FakeHttpServer, Reply

STATE = {"draft": {"answer": "forty-two", "grade": 0.4, "latency_ms": 120}, "tier": "gold"}


def eval_node(scorers: list[dict[str, Any]], **kind: Any) -> NodeDef:
    body = {"type": "eval", "scorers": scorers, "input_expr": "state.draft", **kind}
    return msgspec.convert({"id": "check", "kind": body}, NodeDef)


def eval_context(
    scorers: list[dict[str, Any]], state: dict[str, Any] | None = None, **kind: Any
) -> ExecutionContext:
    return context(eval_node(scorers, **kind), STATE if state is None else state)


@pytest.fixture
async def evaluator(fake: FakeHttpServer) -> AsyncIterator[EvalExecutor]:
    registry = ExecutorRegistry()
    model = ModelExecutor(model_settings(fake.url, JAMJET_MODEL_TIMEOUT_SECS="2"))
    registry.register("model", model)
    yield EvalExecutor(registry, ("tests.evals",))
    await model.aclose()


async def run(evaluator: EvalExecutor, ctx: ExecutionContext) -> ExecutionResult:
    return await evaluator.execute(ctx)


def only_score(result: ExecutionResult) -> dict[str, Any]:
    scorers = result.output["scorers"]
    assert len(scorers) == 1
    return dict(scorers[0])


# ---- assertion -------------------------------------------------------------------------------------


async def test_assertion_checks_read_output_and_state(evaluator: EvalExecutor) -> None:
    checks = ['output.answer == "forty-two"', 'state.tier != "free"', "output.latency_ms"]
    result = await run(
        evaluator, eval_context([{"type": "assertion", "checks": checks}], on_fail="log_and_continue")
    )
    assert result.output["passed"] is True
    assert only_score(result) == {
        "scorer": "assertion",
        "passed": True,
        "score": 1.0,
        "message": "all checks hold",
    }
    assert result.state_patch == {
        "eval_passed": True,
        "eval_action": "continue",
        "eval_results": result.output["scorers"],
    }


async def test_assertion_fails_on_a_false_check_and_on_a_foreign_root(evaluator: EvalExecutor) -> None:
    checks = ['output.answer == "forty-two"', "output.grade == 1", 'draft.answer != "x"', "state.missing"]
    scorers = [{"type": "assertion", "checks": checks}]
    result = await run(evaluator, eval_context(scorers, on_fail="log_and_continue"))
    score = only_score(result)
    assert score["passed"] is False and score["score"] == 0.25
    assert "output.grade == 1" in score["message"] and 'draft.answer != "x"' in score["message"]
    assert result.state_patch["eval_passed"] is False
    assert result.state_patch["eval_action"] == "log_and_continue"


async def test_without_input_expr_the_output_is_the_whole_state(evaluator: EvalExecutor) -> None:
    node = msgspec.convert(
        {
            "id": "check",
            "kind": {"type": "eval", "scorers": [{"type": "assertion", "checks": ['output.tier == "gold"']}]},
        },
        NodeDef,
    )
    result = await run(evaluator, context(node, STATE))
    assert result.output["passed"] is True


# ---- latency and cost ------------------------------------------------------------------------------


@pytest.mark.parametrize(("threshold", "passed"), [(200, True), (100, False)])
async def test_latency_compares_the_values_latency_ms(
    evaluator: EvalExecutor, threshold: int, passed: bool
) -> None:
    ctx = eval_context([{"type": "latency", "threshold_ms": threshold}], on_fail="log_and_continue")
    score = only_score(await run(evaluator, ctx))
    assert score["passed"] is passed and score["score"] == 120.0


async def test_latency_without_a_latency_ms_fails(evaluator: EvalExecutor) -> None:
    ctx = eval_context(
        [{"type": "latency", "threshold_ms": 1000}], {"draft": {"answer": "x"}}, on_fail="escalate"
    )
    result = await run(evaluator, ctx)
    assert only_score(result)["passed"] is False and only_score(result)["score"] is None
    assert result.state_patch["eval_action"] == "escalate"


@pytest.mark.parametrize(("threshold", "passed"), [(0.5, True), (0.1, False)])
async def test_cost_compares_the_budget_total(
    evaluator: EvalExecutor, threshold: float, passed: bool
) -> None:
    state = {**STATE, "__budget": {"total_cost_usd": 0.25, "total_input_tokens": 10}}
    ctx = eval_context([{"type": "cost", "threshold_usd": threshold}], state, on_fail="log_and_continue")
    score = only_score(await run(evaluator, ctx))
    assert score["passed"] is passed and score["score"] == 0.25


async def test_cost_before_anything_was_spent_is_zero(evaluator: EvalExecutor) -> None:
    score = only_score(await run(evaluator, eval_context([{"type": "cost", "threshold_usd": 0.0}])))
    assert score == {"scorer": "cost", "passed": True, "score": 0.0, "message": score["message"]}


# ---- custom ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("min_chars", "passed"), [(5, True), (50, False)])
async def test_custom_bool_scorer_gets_kwargs(evaluator: EvalExecutor, min_chars: int, passed: bool) -> None:
    scorer = {"type": "custom", "module": "tests.evals.fns.long_enough", "kwargs": {"min_chars": min_chars}}
    score = only_score(await run(evaluator, eval_context([scorer], on_fail="log_and_continue")))
    assert score["passed"] is passed and score["score"] == (1.0 if passed else 0.0)


async def test_custom_async_scorer_reports_its_score_and_message(evaluator: EvalExecutor) -> None:
    scorer = {"type": "custom", "module": "tests.evals.fns", "function": "graded", "kwargs": {"passing": 0.7}}
    score = only_score(await run(evaluator, eval_context([scorer], on_fail="log_and_continue")))
    assert score == {"scorer": "custom", "passed": False, "score": 0.4, "message": "grade 0.4 vs 0.7"}


async def test_custom_scorer_outside_the_allowed_modules_fails_the_node(evaluator: EvalExecutor) -> None:
    scorer = {"type": "custom", "module": "tests.fns.noop"}
    with pytest.raises(FatalError, match="not allowed"):
        await run(evaluator, eval_context([scorer], on_fail="log_and_continue"))


async def test_invalid_scorers_and_on_fail_fail_the_node(evaluator: EvalExecutor) -> None:
    with pytest.raises(FatalError, match="invalid scorers"):
        await run(evaluator, eval_context([{"type": "vibes"}]))
    with pytest.raises(FatalError, match="on_fail"):
        await run(evaluator, eval_context([], on_fail="shrug"))


# ---- on_fail ---------------------------------------------------------------------------------------

FAILING = [{"type": "assertion", "checks": ["output.grade == 1"]}]


async def test_halt_fails_the_node_with_the_scorers_messages(evaluator: EvalExecutor) -> None:
    with pytest.raises(FatalError, match=r"eval 'check' failed: assertion: failed: output.grade == 1"):
        await run(evaluator, eval_context(FAILING))


async def test_retry_with_feedback_is_retryable_until_max_retries(evaluator: EvalExecutor) -> None:
    ctx = eval_context(FAILING, on_fail="retry_with_feedback", max_retries=2)
    for attempt in (0, 1):
        with pytest.raises(RetryableError) as caught:
            await run(evaluator, dataclasses.replace(ctx, attempt=attempt))
        assert caught.value.error_class == EVAL_ERROR_CLASS
        assert (
            f"retry {attempt + 1} of 2" in caught.value.message
            and "output.grade == 1" in caught.value.message
        )
    with pytest.raises(FatalError, match="after 2 retries"):
        await run(evaluator, dataclasses.replace(ctx, attempt=2))


async def test_a_passing_eval_continues_whatever_on_fail_says(evaluator: EvalExecutor) -> None:
    ctx = eval_context([{"type": "assertion", "checks": ["output.answer"]}], on_fail="halt")
    result = await run(evaluator, ctx)
    assert result.output == {
        "passed": True,
        "scorers": result.output["scorers"],
        "on_fail": "halt",
        "max_retries": 0,
    }
    assert result.state_patch["eval_action"] == "continue"


# ---- llm_judge -------------------------------------------------------------------------------------

JUDGE = {"type": "llm_judge", "model": "gpt-4o-mini", "rubric": "The answer is a number."}


async def test_llm_judge_sends_rubric_and_output_and_passes_at_min_score(
    evaluator: EvalExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(Reply(body=scored(4, "a number, spelled out")))
    result = await run(evaluator, eval_context([JUDGE]))
    assert only_score(result) == {
        "scorer": "llm_judge",
        "passed": True,
        "score": 4.0,
        "message": "a number, spelled out",
    }
    body = fake.last.json()
    assert fake.last.path == "/chat/completions"
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0 and body["max_tokens"] == 256
    system, user = body["messages"]
    assert system["role"] == "system" and '"score"' in system["content"]
    assert "The answer is a number." in user["content"] and '"answer":"forty-two"' in user["content"]
    assert (result.input_tokens, result.output_tokens, result.gen_ai_model) == (
        300,
        20,
        "gpt-4o-mini-2024-07-18",
    )


async def test_llm_judge_fails_below_min_score(evaluator: EvalExecutor, fake: FakeHttpServer) -> None:
    fake.reply(Reply(body=scored(3, "meh")))
    result = await run(evaluator, eval_context([{**JUDGE, "min_score": 4}], on_fail="log_and_continue"))
    assert only_score(result)["passed"] is False and only_score(result)["score"] == 3.0


async def test_llm_judge_reads_a_fenced_reply_and_fails_an_unusable_one(
    evaluator: EvalExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(
        Reply(body=judge_reply('Sure!\n```json\n{"score": 5, "reason": "exact"}\n```')),
        Reply(body=judge_reply("I would rate it highly.")),
    )
    first = await run(evaluator, eval_context([JUDGE], on_fail="log_and_continue"))
    second = await run(evaluator, eval_context([JUDGE], on_fail="log_and_continue"))
    assert only_score(first)["score"] == 5.0 and only_score(first)["passed"] is True
    assert only_score(second)["passed"] is False and only_score(second)["score"] is None
    assert "no 1-5 score" in only_score(second)["message"]


async def test_llm_judge_rate_limit_is_a_retryable_error_not_a_score(
    evaluator: EvalExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(Reply(status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "3"}))
    with pytest.raises(RetryableError) as caught:
        await run(evaluator, eval_context([JUDGE], on_fail="log_and_continue"))
    assert caught.value.error_class == "rate_limit" and caught.value.retry_after == 3


async def test_tokens_of_several_judges_are_summed(evaluator: EvalExecutor, fake: FakeHttpServer) -> None:
    fake.reply(Reply(body=scored(5)), Reply(body=judge_reply('{"score": 2}', tokens=(100, 5))))
    result = await run(evaluator, eval_context([JUDGE, JUDGE], on_fail="log_and_continue"))
    assert [s["passed"] for s in result.output["scorers"]] == [True, False]
    assert (result.input_tokens, result.output_tokens) == (400, 25)
    assert result.state_patch["eval_passed"] is False
