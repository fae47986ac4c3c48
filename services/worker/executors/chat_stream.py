"""Streamed chat completions: the server-sent events of an OpenAI-compatible API, assembled.

Each event's data is a chunk ``{"model", "choices": [{"delta": {"content", "tool_calls"},
"finish_reason"}]}``. Tool calls arrive as fragments keyed by ``index`` (the id and name first, then
pieces of the arguments' JSON); with ``stream_options.include_usage`` a last chunk with empty
``choices`` carries ``usage``; ``data: [DONE]`` ends the stream. The chunks add up to the body a
non-streamed call returns, so :func:`services.worker.executors.chat.completion` reads both alike.

Failures are classified as for JSON calls (:mod:`services.worker.executors.http_errors`); an error
chunk in the stream, or a stream that stops before its end, is a retryable ``server_error``. A server
that ignores ``"stream": true`` and answers with JSON is read as a non-streamed answer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from jamjet_common.errors import FatalError, RetryableError
from services.worker.executors.http_errors import (
    SERVER_ERROR,
    TIMEOUT,
    JsonResponse,
    decode_json,
    error_for_status,
    transport_error,
)
from services.worker.executors.ndjson import DONE, SSE_CONTENT_TYPE, SseDecoder

STREAM_OPTIONS: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}
"""Added to a request's body to stream it, with the token usage in a last chunk."""

OnDelta = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class StreamAssembly:
    """What the chunks read so far add up to."""

    what: str
    model: str | None = None
    content: list[str] = field(default_factory=list)
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    done: bool = False

    @property
    def finished(self) -> bool:
        return self.done or self.finish_reason is not None

    def add(self, data: str) -> str | None:
        """Takes one event's data; returns the content it adds, if any."""
        if data.strip() == DONE:
            self.done = True
            return None
        chunk = self._decode(data)
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            self.model = chunk["model"]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return None
        return self._add_choice(choices[0])

    def body(self) -> dict[str, Any]:
        """The assembled chunks as one non-streamed completion body."""
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content)}
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[index] for index in sorted(self.tool_calls)]
        body: dict[str, Any] = {"choices": [{"message": message, "finish_reason": self.finish_reason}]}
        if self.model is not None:
            body["model"] = self.model
        if self.usage is not None:
            body["usage"] = self.usage
        return body

    def _decode(self, data: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise FatalError(f"{self.what}: a streamed chunk is not JSON ({exc}): {data[:300]!r}") from exc
        if not isinstance(chunk, dict):
            raise FatalError(f"{self.what}: a streamed chunk is not an object: {data[:300]!r}")
        if "error" in chunk:
            detail = json.dumps(chunk["error"], default=str)[:500]
            raise RetryableError(
                f"{self.what}: error in the stream: {detail}", code=SERVER_ERROR, error_class=SERVER_ERROR
            )
        return chunk

    def _add_choice(self, choice: dict[str, Any]) -> str | None:
        if isinstance(choice.get("finish_reason"), str):
            self.finish_reason = choice["finish_reason"]
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return None
        for position, fragment in enumerate(delta.get("tool_calls") or []):
            if isinstance(fragment, dict):
                self._add_tool_call(position, fragment)
        piece = delta.get("content")
        if isinstance(piece, str) and piece:
            self.content.append(piece)
            return piece
        return None

    def _add_tool_call(self, position: int, fragment: dict[str, Any]) -> None:
        index = fragment.get("index")
        call = self.tool_calls.setdefault(
            index if isinstance(index, int) else len(self.tool_calls) + position,
            {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
        )
        if isinstance(fragment.get("id"), str):
            call["id"] = fragment["id"]
        function = fragment.get("function")
        if isinstance(function, dict):
            for key in ("name", "arguments"):
                if isinstance(function.get(key), str):
                    call["function"][key] += function[key]


async def stream_json(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    what: str,
    timeout: float,
    headers: dict[str, str],
    on_delta: OnDelta,
) -> JsonResponse:
    """POST ``payload`` streamed, calling ``on_delta`` with each piece of content as it is read.

    ``timeout`` bounds each read, not the whole stream, so a long answer that keeps coming succeeds.
    """
    try:
        async with client.stream("POST", url, json=payload, headers=headers, timeout=timeout) as response:
            if not response.is_success:
                await response.aread()
                raise error_for_status(response, what)
            if not response.headers.get("content-type", "").startswith(SSE_CONTENT_TYPE):
                await response.aread()
                return JsonResponse(decode_json(response, what), response.headers)
            assembly = await _read_events(response, StreamAssembly(what), on_delta)
    except httpx.TimeoutException as exc:
        raise RetryableError(
            f"{what}: the stream stalled for {timeout:g}s", code=TIMEOUT, error_class=TIMEOUT
        ) from exc
    except httpx.TransportError as exc:
        raise transport_error(exc, what, url) from exc
    return JsonResponse(assembly.body(), response.headers)


async def _read_events(
    response: httpx.Response, assembly: StreamAssembly, on_delta: OnDelta
) -> StreamAssembly:
    decoder = SseDecoder()
    async for line in response.aiter_lines():
        data = decoder.feed(line.rstrip("\r"))
        if data is not None and (piece := assembly.add(data)) is not None:
            await on_delta(piece)
    tail = decoder.flush()
    if tail is not None and (piece := assembly.add(tail)) is not None:
        await on_delta(piece)
    if not assembly.finished:
        raise RetryableError(
            f"{assembly.what}: the stream ended without a finish_reason or [DONE]",
            code=SERVER_ERROR,
            error_class=SERVER_ERROR,
        )
    return assembly
