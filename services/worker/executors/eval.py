"""The ``eval`` node: score a value with the node's scorers, then carry out ``on_fail``.

The evaluated value is the one at ``input_expr``, a state path (``state.a.b``; ``state`` alone is the
whole state; a path without the ``state.`` prefix is read under it, so ``answer`` is
``state.answer``), else the whole state. Scorers, in order: ``assertion``, ``latency`` and ``cost``
(:mod:`.eval_scorers`, where their conventions are), ``llm_judge`` (:mod:`.eval_judge`), and
``custom``: ``module`` names ``package.module.function`` (or the module, with ``function``), imported
under the ``python_fn`` rules (``JAMJET_PYTHON_ALLOWED_MODULES``) and called as
``function(value, **kwargs)`` (awaited if async); it returns a bool or ``{"passed": bool, "score"?:
number, "message"?: str}``.

Output ``{passed, scorers: [{scorer, passed, score, message}], on_fail, max_retries}``; state patch
``{eval_passed, eval_action, eval_results}`` with ``eval_action`` ``continue`` when every scorer
passed, else ``on_fail``. Unlike the original, the action is carried out:

- ``halt`` (the default): the node fails.
- ``retry_with_feedback``: while fewer than ``max_retries`` retries were made, the attempt fails with a
  retryable error of class ``eval`` whose message (the failed scorers' messages) is the feedback,
  recorded in ``NodeFailed``; then the node fails. The node's retry policy still governs: its
  ``max_attempts`` caps the attempts and a ``retryable_on`` list must name ``{"custom": "eval"}``.
- ``log_and_continue``: the node completes with ``eval_passed: false``.
- ``escalate``: the node completes with ``eval_action: "escalate"``; the workflow routes on it
  (a condition branch on ``state.eval_action == "escalate"``). Nothing is paused or paged.

A node that cannot be scored (invalid scorers or ``on_fail``, a module that cannot be imported, a
custom function that raises, a failed model call) fails as an error of the node, not as a failed
score. Tokens and cost of judge calls are reported on the node's ``NodeCompleted``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterable
from typing import Any

from jamjet_common.errors import FatalError, RetryableError
from jamjet_common.ir import EvalNode
from services.worker.executors.base import ExecutionContext, ExecutionResult
from services.worker.executors.eval_judge import ExecutorLookup, Judge
from services.worker.executors.eval_scorers import (
    AssertionSpec,
    CostSpec,
    CustomSpec,
    LatencySpec,
    Score,
    Spec,
    assertion,
    cost,
    latency,
    parse_scorers,
)
from services.worker.executors.python_fn import PythonFnExecutor, call
from services.worker.executors.state_mapping import STATE, resolve
from services.worker.sandbox.python_modules import ModulePolicy

logger = logging.getLogger(__name__)

CONTINUE = "continue"
HALT = "halt"
RETRY_WITH_FEEDBACK = "retry_with_feedback"
ACTIONS = frozenset({RETRY_WITH_FEEDBACK, "escalate", HALT, "log_and_continue"})
EVAL_ERROR_CLASS = "eval"


class EvalExecutor:
    """``executors`` is where the judge finds the ``model`` executor (looked up at each call)."""

    def __init__(
        self, executors: ExecutorLookup, allowed_modules: ModulePolicy | tuple[str, ...] | None = None
    ) -> None:
        self._judge = Judge(executors)
        self._functions = PythonFnExecutor(allowed_modules)

    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        kind = ctx.node.kind
        if not isinstance(kind, EvalNode):
            raise FatalError(f"eval executor cannot run a '{kind.tag}' node")
        specs = parse_scorers(ctx.node.id, kind.scorers)
        if kind.on_fail not in ACTIONS:
            known = ", ".join(sorted(ACTIONS))
            raise FatalError(f"eval node '{ctx.node.id}': on_fail {kind.on_fail!r} is not one of {known}")
        value = evaluated(kind.input_expr, ctx.state)
        calls: list[ExecutionResult] = []
        scores = [await self._score(ctx, spec, value, calls) for spec in specs]
        return verdict(ctx, kind, scores, calls)

    async def _score(
        self, ctx: ExecutionContext, spec: Spec, value: Any, calls: list[ExecutionResult]
    ) -> Score:
        if isinstance(spec, AssertionSpec):
            return assertion(spec, ctx.state, value)
        if isinstance(spec, LatencySpec):
            return latency(spec, value)
        if isinstance(spec, CostSpec):
            return cost(spec, ctx.state)
        if isinstance(spec, CustomSpec):
            return await self._custom(spec, value)
        score, result = await self._judge.score(ctx, spec, value)
        calls.append(result)
        return score

    async def _custom(self, spec: CustomSpec, value: Any) -> Score:
        module, name = custom_target(spec)
        function = await self._functions.function(module, name)
        returned = await call(functools.partial(function, **spec.kwargs), value)
        return custom_score(f"{module}.{name}", returned)


def evaluated(input_expr: str | None, state: dict[str, Any]) -> Any:
    if input_expr is None:
        return state
    path = input_expr.strip()
    if path != STATE and not path.startswith(STATE + "."):
        path = f"{STATE}.{path}"
    return resolve(path, state)


def custom_target(spec: CustomSpec) -> tuple[str, str]:
    if spec.function:
        return spec.module, spec.function
    module, _, name = spec.module.rpartition(".")
    if not module or not name:
        raise FatalError(f"custom scorer: module {spec.module!r} is not 'package.module.function'")
    return module, name


def custom_score(name: str, returned: Any) -> Score:
    if isinstance(returned, bool):
        return Score("custom", returned, 1.0 if returned else 0.0, name)
    passed = returned.get("passed") if isinstance(returned, dict) else None
    if not isinstance(passed, bool):
        raise FatalError(
            f"custom scorer {name} returned {returned!r}; expected a bool or {{passed, score, message}}"
        )
    score, message = returned.get("score"), returned.get("message")
    number = float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None
    return Score("custom", passed, number, message if isinstance(message, str) else name)


def verdict(
    ctx: ExecutionContext, kind: EvalNode, scores: list[Score], calls: list[ExecutionResult]
) -> ExecutionResult:
    """The node's result, or the error that carries out ``on_fail``."""
    passed = all(score.passed for score in scores)
    if not passed:
        enforce(ctx, kind, scores)
    results = [score.as_dict() for score in scores]
    output = {"passed": passed, "scorers": results, "on_fail": kind.on_fail, "max_retries": kind.max_retries}
    patch = {
        "eval_passed": passed,
        "eval_action": CONTINUE if passed else kind.on_fail,
        "eval_results": results,
    }
    return with_usage(ExecutionResult(output=output, state_patch=patch), calls)


def enforce(ctx: ExecutionContext, kind: EvalNode, scores: list[Score]) -> None:
    """Raise for ``halt`` and ``retry_with_feedback``; the other actions complete the node."""
    feedback = "; ".join(f"{score.scorer}: {score.message}" for score in scores if not score.passed)
    node = ctx.node.id
    if kind.on_fail == HALT:
        raise FatalError(f"eval '{node}' failed: {feedback}")
    if kind.on_fail == RETRY_WITH_FEEDBACK:
        if ctx.attempt < kind.max_retries:
            retry = f"retry {ctx.attempt + 1} of {kind.max_retries}"
            raise RetryableError(f"eval '{node}' failed ({retry}): {feedback}", error_class=EVAL_ERROR_CLASS)
        raise FatalError(f"eval '{node}' failed after {max(kind.max_retries, 0)} retries: {feedback}")
    logger.warning("%s/%s: eval failed (%s): %s", ctx.item.execution_id, node, kind.on_fail, feedback)


def with_usage(result: ExecutionResult, calls: list[ExecutionResult]) -> ExecutionResult:
    """``result`` reporting the judges' model, tokens and cost (summed over the calls)."""
    if not calls:
        return result
    return dataclasses.replace(
        result,
        gen_ai_system=calls[-1].gen_ai_system,
        gen_ai_model=calls[-1].gen_ai_model,
        input_tokens=_total(c.input_tokens for c in calls),
        output_tokens=_total(c.output_tokens for c in calls),
        cost_usd=_total(c.cost_usd for c in calls),
    )


def _total[N: (int, float)](values: Iterable[N | None]) -> N | None:
    known = [value for value in values if value is not None]
    return sum(known[1:], known[0]) if known else None
