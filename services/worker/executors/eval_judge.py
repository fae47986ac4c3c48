"""The ``llm_judge`` scorer: one chat completion through this worker's ``model`` executor.

The judge sees the rubric and the evaluated value (compact JSON unless a string) and is asked for
``{"score": 1-5, "reason": ...}`` with temperature 0 and at most 256 tokens. The call goes out as a
``model`` node of the same id (so its endpoint, key, pricing and errors are the model executor's:
a 429 or 5xx is a retryable error of the eval node, not a failed score). The endpoint is the one of
the scorer's ``provider`` if it names one, else of the provider the model's name suggests
(``gpt-*`` → ``openai``), else the default. A reply without a usable score fails the scorer.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

import msgspec

from jamjet_common.ir import ModelConfig, ModelNode, NodeDef
from jamjet_common.messages import NodeResources
from services.worker.executors.base import ExecutionContext, ExecutionResult, Executor
from services.worker.executors.eval_scorers import LlmJudgeSpec, Score
from services.worker.executors.model import infer_system

JUDGE_MAX_TOKENS = 256
JUDGE_TEMPERATURE = 0.0
MIN_SCORE, MAX_SCORE = 1, 5
SHOWN_REPLY_CHARS = 200
JUDGE_SYSTEM = (
    "You are an impartial evaluator. Score the output against the rubric from 1 (does not meet it "
    "at all) to 5 (fully meets it). Reply with only a JSON object: "
    '{"score": <integer 1-5>, "reason": "<one sentence>"}.'
)
JUDGE_PROMPT = "Rubric:\n{{ state.rubric }}\n\nOutput to evaluate:\n{{ state.output }}"
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class ExecutorLookup(Protocol):
    def get(self, tag: str) -> Executor: ...


class Judge:
    def __init__(self, executors: ExecutorLookup) -> None:
        self._executors = executors

    async def score(
        self, ctx: ExecutionContext, spec: LlmJudgeSpec, value: Any
    ) -> tuple[Score, ExecutionResult]:
        """The judge's score, and the model call's result (for its tokens and cost)."""
        result = await self._executors.get("model").execute(judge_context(ctx, spec, value))
        content = result.output.get("content") if isinstance(result.output, dict) else None
        return judged(spec, content if isinstance(content, str) else ""), result


def judge_context(ctx: ExecutionContext, spec: LlmJudgeSpec, value: Any) -> ExecutionContext:
    kind = ModelNode(model_ref=spec.model, prompt_ref=JUDGE_PROMPT, system_prompt=JUDGE_SYSTEM)
    config = ModelConfig(
        provider=spec.provider or infer_system(spec.model),
        model=spec.model,
        temperature=JUDGE_TEMPERATURE,
        max_tokens=JUDGE_MAX_TOKENS,
    )
    item = msgspec.structs.replace(
        ctx.item,
        node=NodeDef(id=ctx.node.id, kind=kind),
        state={"rubric": spec.rubric, "output": value},
        resources=NodeResources(model=config),
    )
    return ExecutionContext(item=item, attempt=ctx.attempt, worker_id=ctx.worker_id)


def judged(spec: LlmJudgeSpec, content: str) -> Score:
    reply = _reply(content)
    score = reply.get("score") if reply is not None else None
    if isinstance(score, bool) or not isinstance(score, int | float) or not MIN_SCORE <= score <= MAX_SCORE:
        shown = content[:SHOWN_REPLY_CHARS]
        return Score("llm_judge", False, None, f"the judge gave no 1-5 score: {shown!r}")
    reason = reply.get("reason") if reply is not None else None
    message = reason if isinstance(reason, str) else ""
    return Score("llm_judge", score >= spec.min_score, float(score), message)


def _reply(content: str) -> dict[str, Any] | None:
    """The JSON object in ``content``; models like to wrap it in prose or a code fence."""
    candidates = [content.strip()]
    if (match := _OBJECT.search(content)) is not None:
        candidates.append(match.group(0))
    for text in candidates:
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            return parsed
    return None
