"""The coordinator's discovery filter, its five scoring dimensions, and its structured decision.

Dimensions (the original's ``DimensionWeights``), each in [0, 1], from the Agent Card:

- ``capability_fit``: the share of the node's ``preferred_skills`` the card lists (1.0 with none);
  every candidate already has all of ``required_skills``.
- ``cost_fit``: the card's ``cost_class`` (free 1.0, low 0.85, medium 0.6, high 0.3, none 0.5); 0.0
  when the node's ``budget.max_cost_usd`` is below the card's ``constraints.cost_budget_usd``.
- ``latency_fit``: the card's ``latency_class`` (realtime 1.0, fast 0.85, medium 0.6, slow 0.3, none
  0.5); 0.0 when ``budget.max_latency_ms`` is under 1000 and the class is medium or slow.
- ``trust_compatibility``: 1.0 when the card's ``jamjet.trust_domain`` label is the node's
  ``trust_domain``; 0.5 when the node names none.
- ``historical_performance``: 0.5 for every agent (no history is kept yet), as the original.

The composite is the weighted mean; ``spread`` is the top composite minus the second (1.0 alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jamjet_common.errors import FatalError
from jamjet_common.ir import CoordinatorNode
from jamjet_common.records import Agent

TRUST_LABEL = "jamjet.trust_domain"
DIMENSIONS = ("capability_fit", "cost_fit", "latency_fit", "trust_compatibility", "historical_performance")
COST_FIT = {"free": 1.0, "low": 0.85, "medium": 0.6, "high": 0.3}
LATENCY_FIT = {"realtime": 1.0, "fast": 0.85, "medium": 0.6, "slow": 0.3}
NEUTRAL = 0.5
FAST_MS = 1000


@dataclass(frozen=True, slots=True)
class Ranking:
    agent_uri: str
    scores: dict[str, float]
    composite: float

    def to_json(self) -> dict[str, Any]:
        return {"agent_uri": self.agent_uri, "scores": self.scores, "composite": round(self.composite, 6)}


@dataclass(frozen=True, slots=True)
class Filtered:
    candidates: list[Agent]
    filtered_out: list[dict[str, str]]


def discover(node: CoordinatorNode, agents: list[Agent]) -> Filtered:
    """Active agents with every required skill (and the trust domain, when the node names one)."""
    candidates: list[Agent] = []
    filtered: list[dict[str, str]] = []
    for agent in agents:
        reason = rejection(node, agent)
        if reason is None:
            candidates.append(agent)
        else:
            filtered.append({"uri": agent.uri, "reason": reason})
    return Filtered(candidates, filtered)


def rejection(node: CoordinatorNode, agent: Agent) -> str | None:
    if agent.status != "active":
        return f"status is {agent.status}, not active"
    missing = [skill for skill in node.required_skills if not agent.card.has_skill(skill)]
    if missing:
        return f"missing skills: {', '.join(missing)}"
    domain = agent.card.labels.get(TRUST_LABEL)
    if node.trust_domain and domain != node.trust_domain:
        return f"trust domain mismatch: {domain!r} != {node.trust_domain!r}"
    return None


def weights(raw: Any) -> dict[str, float]:
    """The node's weights over the five dimensions (1.0 each by default); rejects anything else."""
    given = raw or {}
    if not isinstance(given, dict) or not set(given) <= set(DIMENSIONS):
        raise FatalError(f"coordinator: weights must be an object over {', '.join(DIMENSIONS)}, not {raw!r}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in given.values()):
        raise FatalError(f"coordinator: weights must be non-negative numbers, not {raw!r}")
    return {name: float(given.get(name, 1.0)) for name in DIMENSIONS}


def score(node: CoordinatorNode, agent: Agent) -> dict[str, float]:
    budget = node.budget if isinstance(node.budget, dict) else {}
    card = agent.card
    preferred = node.preferred_skills
    return {
        "capability_fit": sum(card.has_skill(s) for s in preferred) / len(preferred) if preferred else 1.0,
        "cost_fit": _cost_fit(agent, budget.get("max_cost_usd")),
        "latency_fit": _latency_fit(agent, budget.get("max_latency_ms")),
        "trust_compatibility": 1.0 if node.trust_domain else NEUTRAL,
        "historical_performance": NEUTRAL,
    }


def _cost_fit(agent: Agent, max_cost: Any) -> float:
    spend = agent.card.constraints.cost_budget_usd if agent.card.constraints else None
    if isinstance(max_cost, int | float) and spend is not None and spend > max_cost:
        return 0.0
    return COST_FIT.get(agent.card.cost_class or "", NEUTRAL)


def _latency_fit(agent: Agent, max_latency_ms: Any) -> float:
    latency = agent.card.latency_class
    if isinstance(max_latency_ms, int | float) and max_latency_ms < FAST_MS and latency in ("medium", "slow"):
        return 0.0
    return LATENCY_FIT.get(latency or "", NEUTRAL)


def composite(scores: dict[str, float], weighting: dict[str, float]) -> float:
    total = sum(weighting.values())
    return sum(scores[d] * weighting[d] for d in DIMENSIONS) / total if total else 0.0


def rank(node: CoordinatorNode, candidates: list[Agent], weighting: dict[str, float]) -> list[Ranking]:
    """Best first; ties keep the registry's order (by uri), so a decision is repeatable."""
    rankings = [Ranking(a.uri, s, composite(s, weighting)) for a in candidates for s in [score(node, a)]]
    return sorted(rankings, key=lambda r: -r.composite)


def spread(rankings: list[Ranking]) -> float:
    return rankings[0].composite - rankings[1].composite if len(rankings) >= 2 else 1.0
