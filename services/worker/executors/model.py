"""The ``model`` node: one chat completion from an OpenAI-compatible HTTP API.

The model is the IR ``models`` entry's ``model`` when the node's ``model_ref`` names one (the
scheduler resolves it into ``item.resources.model``, with its provider, temperature, max_tokens and
timeout), else ``model_ref`` itself. Request and response shapes are in
:mod:`services.worker.executors.chat`, endpoints and keys in
:mod:`services.worker.executors.model_settings`, failure classes in
:mod:`services.worker.executors.http_errors`.

With a progress sink the request is streamed (:mod:`services.worker.executors.chat_stream`) and each
piece of content is published as it arrives, as ``{"type": "model_delta", "node_id", "execution_id",
"attempt", "sequence", "delta"}`` on the execution's progress subject (``sequence`` counts 1, 2, 3...
within the attempt); the result is the same as without streaming.

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
from services.worker.executors.chat_stream import STREAM_OPTIONS, OnDelta, stream_json
from services.worker.executors.http_errors import JsonResponse, pooled_client, post_json
from services.worker.executors.model_settings import ModelSettings
from services.worker.executors.output_key import output_key_patch
from services.worker.progress import ProgressSink

logger = logging.getLogger(__name__)

_SYSTEMS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("anthropic/", "claude"), "anthropic"),
    (("openai/", "gpt", "chatgpt", "o1", "o3", "o4"), "openai"),
    (("google/", "gemini/", "gemini"), "gemini"),
    (("mistral/", "mistral", "codestral"), "mistral_ai"),
    (("ollama/",), "ollama"),
)


MODEL_DELTA = "model_delta"


class ModelExecutor:
    """Chat completions over one pooled HTTP client; ``aclose()`` it when the worker stops.

    Streams when given a ``progress`` sink; without one, each call waits for the whole answer.
    """

    def __init__(
        self,
        settings: ModelSettings,
        client: httpx.AsyncClient | None = None,
        progress: ProgressSink | None = None,
    ) -> None:
        self._settings = settings
        self._client = client or pooled_client(settings.max_connections, settings.timeout_secs)
        self._progress = progress

    async def aclose(self) -> None:
        await self._client.aclose()

    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        kind = ctx.node.kind
        if not isinstance(kind, ModelNode):
            raise FatalError(f"model executor cannot run a '{kind.tag}' node")
        config = ctx.item.resources.model if ctx.item.resources is not None else None
        request = chat_request(ctx.node.id, kind, config, ctx.state)
        started = time.monotonic()
        response = await self._post(request, ctx)
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
        return self._result(kind, request, answer, response, duration_ms)

    async def _post(self, request: ChatRequest, ctx: ExecutionContext) -> JsonResponse:
        endpoint = self._settings.endpoint(request.provider)
        url, what = endpoint.url("/chat/completions"), f"model '{request.model}'"
        timeout = request.timeout_secs or self._settings.timeout_secs
        if self._progress is None:
            return await post_json(
                self._client, url, request.body, what=what, timeout=timeout, headers=endpoint.headers()
            )
        return await stream_json(
            self._client,
            url,
            {**request.body, **STREAM_OPTIONS},
            what=what,
            timeout=timeout,
            headers=endpoint.headers(),
            on_delta=_publisher(self._progress, ctx),
        )

    def _result(
        self,
        kind: ModelNode,
        request: ChatRequest,
        answer: Completion,
        response: JsonResponse,
        duration_ms: int,
    ) -> ExecutionResult:
        return ExecutionResult(
            output=answer.output,
            state_patch={**answer.state_patch, **output_key_patch(kind.output_schema, answer.content)},
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


def _publisher(progress: ProgressSink, ctx: ExecutionContext) -> OnDelta:
    """Publishes each piece of content as the attempt's next ``model_delta`` event."""
    item, sequence = ctx.item, 0

    async def publish(delta: str) -> None:
        nonlocal sequence
        sequence += 1
        event = {
            "type": MODEL_DELTA,
            "node_id": ctx.node.id,
            "execution_id": item.execution_id,
            "attempt": ctx.attempt,
            "sequence": sequence,
            "delta": delta,
        }
        await progress.publish(item.tenant, item.execution_id, event)

    return publish


def infer_system(model: str) -> str:
    """The ``gen_ai.system`` for a model named without an IR ``models`` entry."""
    name = model.lower()
    return next((system for prefixes, system in _SYSTEMS if name.startswith(prefixes)), "unknown")
