"""The ``coordinator`` node: pick the registered agent best fit for a task, in process.

Discovery reads the agent registry of the execution's tenant (active agents with every ``required_skills``,
and the ``trust_domain`` when the node names one); scoring ranks them over five weighted dimensions
(:mod:`services.worker.executors.coordinator_scoring`); the decision is the top one, unless the spread between
the top two is within ``tiebreaker.threshold`` (0.1) and the node names a ``tiebreaker.model``: then the model
picks among the top ``max_candidates`` (3). The selected agent's uri goes under ``output_key``; the three
steps, as the original's ``coordinator_discovery``, ``coordinator_scoring`` and ``coordinator_decision``
events, are appended to ``coordinator_events`` in the state. No candidate fails the node (not retryable)
naming each agent left out and why.
"""

from __future__ import annotations

from typing import Any, Protocol

from jamjet_common.errors import FatalError
from jamjet_common.ir import CoordinatorNode
from jamjet_common.records import Agent
from services.worker.executors import coordinator_scoring as scoring
from services.worker.executors import coordinator_tiebreak as tiebreak
from services.worker.executors.base import ExecutionContext, ExecutionResult
from services.worker.executors.coordinator_scoring import Filtered, Ranking
from services.worker.executors.http_errors import pooled_client
from services.worker.executors.model_settings import ModelSettings

EVENTS_KEY = "coordinator_events"


class AgentSource(Protocol):
    async def agents(self, tenant: str) -> list[Agent]:
        """The tenant's live agents: a coordinator chooses among its execution's tenant's only."""
        ...


class CoordinatorExecutor:
    def __init__(self, agents: AgentSource, settings: ModelSettings) -> None:
        self._agents = agents
        self._settings = settings
        self._client = pooled_client(settings.max_connections, settings.timeout_secs)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        node = ctx.node.kind
        if not isinstance(node, CoordinatorNode):
            raise FatalError(f"coordinator executor cannot run a '{node.tag}' node")
        weighting = scoring.weights(node.weights)
        found = scoring.discover(node, await self._agents.agents(ctx.item.tenant))
        if not found.candidates:
            raise FatalError(no_candidate(ctx.node.id, node, found))
        rankings = scoring.rank(node, found.candidates, weighting)
        events = [discovery_event(ctx.node.id, node, found), scoring_event(ctx.node.id, rankings, weighting)]
        decision, picked = await self._decide(node, rankings)
        events.append({"type": "coordinator_decision", "node_id": ctx.node.id, **decision})
        prior = ctx.state.get(EVENTS_KEY)
        patch: dict[str, Any] = {EVENTS_KEY: [*(prior if isinstance(prior, list) else []), *events]}
        if node.output_key:
            patch[node.output_key] = decision["selected"]
        return ExecutionResult(
            output=decision,
            state_patch=patch,
            input_tokens=picked.input_tokens if picked else None,
            output_tokens=picked.output_tokens if picked else None,
            cost_usd=picked.cost_usd if picked else None,
            gen_ai_model=tiebreaker(node)[0] if picked else None,
        )

    async def _decide(
        self, node: CoordinatorNode, rankings: list[Ranking]
    ) -> tuple[dict[str, Any], tiebreak.Tiebreak | None]:
        model, threshold, max_candidates = tiebreaker(node)
        if model is None or len(rankings) < 2 or scoring.spread(rankings) > threshold:
            return structured(rankings), None
        tied = rankings[:max_candidates]
        picked = await tiebreak.ask(self._client, self._settings, model, node.task, tied)
        return tiebreaker_decision(tied, picked), picked


def tiebreaker(node: CoordinatorNode) -> tuple[str | None, float, int]:
    """(model, threshold, max_candidates); no model: no tiebreaker."""
    config = node.tiebreaker
    if config is None:
        return None, tiebreak.DEFAULT_THRESHOLD, tiebreak.DEFAULT_MAX_CANDIDATES
    if not isinstance(config, dict):
        raise FatalError(f"coordinator: tiebreaker must be an object, not {config!r}")
    model, threshold = config.get("model"), config.get("threshold", tiebreak.DEFAULT_THRESHOLD)
    limit = config.get("max_candidates", tiebreak.DEFAULT_MAX_CANDIDATES)
    if not isinstance(threshold, int | float) or not isinstance(limit, int) or limit < 2:
        raise FatalError(
            f"coordinator: tiebreaker threshold must be a number, max_candidates >= 2: {config!r}"
        )
    return (model if isinstance(model, str) and model else None), float(threshold), limit


def structured(rankings: list[Ranking]) -> dict[str, Any]:
    top = rankings[0]
    rejected = [{"uri": r.agent_uri, "reason": "lower score"} for r in rankings[1:]]
    return decision(top.agent_uri, "structured", None, top.composite, rejected)


def tiebreaker_decision(tied: list[Ranking], picked: tiebreak.Tiebreak) -> dict[str, Any]:
    chosen = next(r for r in tied if r.agent_uri == picked.selected_uri)
    rejected = [{"uri": r.agent_uri, "reason": "not selected by tiebreaker"} for r in tied if r is not chosen]
    made = decision(chosen.agent_uri, "llm_tiebreaker", picked.reasoning, chosen.composite, rejected)
    made["tiebreaker_tokens"] = (picked.input_tokens or 0) + (picked.output_tokens or 0)
    made["tiebreaker_cost"] = picked.cost_usd
    return made


def decision(
    selected: str, method: str, reasoning: str | None, confidence: float, rejected: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "selected": selected,
        "method": method,
        "reasoning": reasoning,
        "confidence": round(confidence, 6),
        "rejected": rejected,
    }


def discovery_event(node_id: str, node: CoordinatorNode, found: Filtered) -> dict[str, Any]:
    return {
        "type": "coordinator_discovery",
        "node_id": node_id,
        "query_skills": node.required_skills,
        "query_trust_domain": node.trust_domain,
        "candidates": [agent.uri for agent in found.candidates],
        "filtered_out": found.filtered_out,
    }


def scoring_event(node_id: str, rankings: list[Ranking], weighting: dict[str, float]) -> dict[str, Any]:
    return {
        "type": "coordinator_scoring",
        "node_id": node_id,
        "rankings": [r.to_json() for r in rankings],
        "spread": round(scoring.spread(rankings), 6),
        "weights": weighting,
    }


def no_candidate(node_id: str, node: CoordinatorNode, found: Filtered) -> str:
    wanted = ", ".join(node.required_skills) or "(none)"
    domain = f" in trust domain {node.trust_domain!r}" if node.trust_domain else ""
    left_out = "; ".join(f"{f['uri']}: {f['reason']}" for f in found.filtered_out) or "no agent is registered"
    return f"coordinator '{node_id}': no active agent has skills [{wanted}]{domain}; left out: {left_out}"
