"""The ``model`` node: one chat completion from an OpenAI-compatible HTTP API.

The model is the IR ``models`` entry's ``model`` when the node's ``model_ref`` names one (the
scheduler resolves it into ``item.resources.model``, with its provider, temperature, max_tokens and
timeout), else ``model_ref`` itself. Request and response shapes are in
:mod:`services.worker.executors.chat`, endpoints and keys in
:mod:`services.worker.executors.model_settings`, failure classes in
:mod:`services.worker.executors.http_errors`.

The cost is what the API reports (``usage.cost``, or LiteLLM's ``x-litellm-response-cost`` header),
else the price table's figure for the model, else unknown.
"""

from __future__ import annotations

import logging
import time

import httpx

from jamjet_common.errors import FatalError
from jamjet_common.ir import ModelNode
from services.worker.executors.base import ExecutionContext, ExecutionResult
from services.worker.executors.chat import ChatRequest, Completion, chat_request, completion, usd
from services.worker.executors.http_errors import JsonResponse, pooled_client, post_json
from services.worker.executors.model_settings import ModelSettings

logger = logging.getLogger(__name__)

_SYSTEMS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("anthropic/", "claude"), "anthropic"),
    (("openai/", "gpt", "chatgpt", "o1", "o3", "o4"), "openai"),
    (("google/", "gemini/", "gemini"), "gemini"),
    (("mistral/", "mistral", "codestral"), "mistral_ai"),
    (("ollama/",), "ollama"),
)


class ModelExecutor:
    """Chat completions over one pooled HTTP client; ``aclose()`` it when the worker stops."""

    def __init__(self, settings: ModelSettings, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client or pooled_client(settings.max_connections, settings.timeout_secs)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        kind = ctx.node.kind
        if not isinstance(kind, ModelNode):
            raise FatalError(f"model executor cannot run a '{kind.tag}' node")
        config = ctx.item.resources.model if ctx.item.resources is not None else None
        request = chat_request(ctx.node.id, kind, config, ctx.state)
        started = time.monotonic()
        response = await self._post(request)
        duration_ms = int((time.monotonic() - started) * 1000)
        answer = completion(response.body, request.model, f"model '{request.model}'")
        logger.debug(
            "model call for %s/%s: %s, %s tokens in, %s out, %d ms",
            ctx.item.execution_id,
            ctx.node.id,
            answer.model,
            answer.input_tokens,
            answer.output_tokens,
            duration_ms,
        )
        return self._result(request, answer, response, duration_ms)

    async def _post(self, request: ChatRequest) -> JsonResponse:
        endpoint = self._settings.endpoint(request.provider)
        return await post_json(
            self._client,
            endpoint.url("/chat/completions"),
            request.body,
            what=f"model '{request.model}'",
            timeout=request.timeout_secs or self._settings.timeout_secs,
            headers=endpoint.headers(),
        )

    def _result(
        self, request: ChatRequest, answer: Completion, response: JsonResponse, duration_ms: int
    ) -> ExecutionResult:
        return ExecutionResult(
            output=answer.output,
            state_patch=answer.state_patch,
            duration_ms=duration_ms,
            gen_ai_system=request.provider or infer_system(request.model),
            gen_ai_model=answer.model,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            finish_reason=answer.finish_reason,
            cost_usd=self._cost(request, answer, response),
        )

    def _cost(self, request: ChatRequest, answer: Completion, response: JsonResponse) -> float | None:
        reported = answer.reported_cost_usd
        if reported is None:
            reported = usd(response.headers.get("x-litellm-response-cost"))
        if reported is not None:
            return reported
        prices = self._settings.prices
        priced = prices.cost(answer.model, answer.input_tokens, answer.output_tokens)
        if priced is None:
            priced = prices.cost(request.model, answer.input_tokens, answer.output_tokens)
        return priced


def infer_system(model: str) -> str:
    """The ``gen_ai.system`` for a model named without an IR ``models`` entry."""
    name = model.lower()
    return next((system for prefixes, system in _SYSTEMS if name.startswith(prefixes)), "unknown")
