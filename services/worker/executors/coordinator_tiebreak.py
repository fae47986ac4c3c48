"""The coordinator's tiebreaker: a model picks among the closest-scored candidates.

Asked through the OpenAI-compatible model plumbing the ``model`` node uses; its answer must be JSON
``{"selected_uri", "reasoning"}``. An answer naming no candidate falls back to the top-ranked one, as
the original does; a failed call fails the node as a model call would (retryable or not).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from services.worker.executors.chat import completion
from services.worker.executors.coordinator_scoring import Ranking
from services.worker.executors.http_errors import post_json
from services.worker.executors.model_settings import ModelSettings
from services.worker.executors.output_key import parsed

DEFAULT_THRESHOLD = 0.1
DEFAULT_MAX_CANDIDATES = 3
MAX_TOKENS = 256


@dataclass(frozen=True, slots=True)
class Tiebreak:
    selected_uri: str
    reasoning: str
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None


def prompt(task: str, tied: list[Ranking]) -> str:
    lines = [
        f"{i}. URI: {r.agent_uri}\n   Composite: {r.composite:.3f}\n   Scores: "
        + ", ".join(f"{name}={value:.2f}" for name, value in r.scores.items())
        for i, r in enumerate(tied, 1)
    ]
    return (
        "You are selecting the best AI agent for a task.\n\n"
        f"Task: {task}\n\nCandidates (scores are very close):\n" + "\n".join(lines) + "\n\n"
        'Return ONLY valid JSON: {"selected_uri": "<uri of best agent>", "reasoning": "<one sentence why>"}'
    )


async def ask(
    client: httpx.AsyncClient, settings: ModelSettings, model: str, task: str, tied: list[Ranking]
) -> Tiebreak:
    endpoint = settings.endpoint(None)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt(task, tied)}],
        "max_tokens": MAX_TOKENS,
    }
    what = f"coordinator tiebreaker model '{model}'"
    response = await post_json(
        client,
        endpoint.url("/chat/completions"),
        body,
        what=what,
        timeout=settings.timeout_secs,
        headers=endpoint.headers(),
    )
    answer = completion(response.body, model, what)
    selected, reasoning = choice(parsed(answer.content), tied)
    cost = answer.reported_cost_usd
    if cost is None:
        cost = settings.prices.cost(answer.model, answer.input_tokens, answer.output_tokens)
    return Tiebreak(selected, reasoning, answer.input_tokens, answer.output_tokens, cost)


def choice(answer: Any, tied: list[Ranking]) -> tuple[str, str]:
    """The candidate the model named, with its reasoning; the top one when it named none of them."""
    named = answer.get("selected_uri") if isinstance(answer, dict) else None
    reasoning = answer.get("reasoning") if isinstance(answer, dict) else None
    text = reasoning if isinstance(reasoning, str) else ""
    if named in {r.agent_uri for r in tied}:
        return str(named), text
    return tied[0].agent_uri, f"the model named no candidate ({json.dumps(answer)[:200]}); top score kept"
