"""The scorers of an ``eval`` node (tag ``type``, as the original's ``EvalScorer``) and the ones that
need nothing but the node's input: ``assertion``, ``latency``, ``cost``.

Conventions (what each scorer looks at):

- ``assertion {checks}``: each check is a condition-branch expression (``path``, ``path == <JSON
  literal>``, ``path != <JSON literal>``, see :mod:`jamjet_common.condition`) whose path starts at
  ``output`` (the evaluated value) or ``state`` (the execution state): ``output.score == 5``,
  ``state.user.tier != "free"``, ``output`` (truthiness). It is evaluated with ``eval_condition``
  against ``{"state": <state>, "output": <evaluated value>}``. A check rooted anywhere else fails.
  Passed: every check holds; score: the fraction that hold (1.0 without checks).
- ``latency {threshold_ms}``: the evaluated value's ``latency_ms`` field (the worker does not know
  how long other nodes took, so whatever produced the value reports it). Passed: present, numeric and
  at most the threshold; score: the latency.
- ``cost {threshold_usd}``: ``state.__budget.total_cost_usd`` (0 before anything cost money).
  Passed: at most the threshold; score: the cost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeGuard

import msgspec

from jamjet_common.budget import BUDGET_KEY
from jamjet_common.condition import eval_condition
from jamjet_common.errors import FatalError

_ROOT = re.compile(r"\s*(state|output)(?=$|[.\s=!])")
ROOT = "state"
"""What ``eval_condition`` calls the object it evaluates against; a check ``output.x`` is read as
``state.output.x`` against ``{"state": ..., "output": ...}``."""


class ScorerSpec(msgspec.Struct, tag_field="type", frozen=True, kw_only=True):
    pass


class LlmJudgeSpec(ScorerSpec, tag="llm_judge", frozen=True):
    model: str
    rubric: str
    min_score: float = 3
    provider: str | None = None
    """Optional: which configured endpoint serves ``model`` (``JAMJET_MODEL_<PROVIDER>_*``)."""


class AssertionSpec(ScorerSpec, tag="assertion", frozen=True):
    checks: list[str] = []


class LatencySpec(ScorerSpec, tag="latency", frozen=True):
    threshold_ms: float


class CostSpec(ScorerSpec, tag="cost", frozen=True):
    threshold_usd: float


class CustomSpec(ScorerSpec, tag="custom", frozen=True):
    module: str
    """``package.module.function``, or the module alone when ``function`` is given."""
    function: str | None = None
    kwargs: dict[str, Any] = {}


Spec = LlmJudgeSpec | AssertionSpec | LatencySpec | CostSpec | CustomSpec


@dataclass(frozen=True, slots=True)
class Score:
    scorer: str
    passed: bool
    score: float | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"scorer": self.scorer, "passed": self.passed, "score": self.score, "message": self.message}


def parse_scorers(node_id: str, raw: list[Any]) -> list[Spec]:
    try:
        return msgspec.convert(raw, list[Spec])
    except msgspec.ValidationError as exc:
        raise FatalError(f"eval node '{node_id}': invalid scorers: {exc}") from exc


def assertion(spec: AssertionSpec, state: dict[str, Any], value: Any) -> Score:
    scope = {"state": state, "output": value}
    failed = [check for check in spec.checks if not holds(check, scope)]
    total = len(spec.checks)
    fraction = (total - len(failed)) / total if total else 1.0
    message = "all checks hold" if not failed else "failed: " + "; ".join(failed)
    return Score("assertion", not failed, fraction, message)


def holds(check: str, scope: dict[str, Any]) -> bool:
    return _ROOT.match(check) is not None and eval_condition(f"{ROOT}.{check.strip()}", scope)


def latency(spec: LatencySpec, value: Any) -> Score:
    measured = value.get("latency_ms") if isinstance(value, dict) else None
    if not _number(measured):
        return Score("latency", False, None, "the evaluated value has no numeric latency_ms")
    passed = measured <= spec.threshold_ms
    relation = "within" if passed else "over"
    return Score("latency", passed, float(measured), f"{measured} ms, {relation} {spec.threshold_ms} ms")


def cost(spec: CostSpec, state: dict[str, Any]) -> Score:
    budget = state.get(BUDGET_KEY)
    spent = budget.get("total_cost_usd") if isinstance(budget, dict) else None
    spent = float(spent) if _number(spent) else 0.0
    passed = spent <= spec.threshold_usd
    relation = "within" if passed else "over"
    return Score("cost", passed, spent, f"${spent:g} spent, {relation} ${spec.threshold_usd:g}")


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
