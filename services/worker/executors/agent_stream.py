"""The agent_tool ``streaming`` mode: read an NDJSON (or SSE) response chunk by chunk.

Each chunk becomes an ``agent_tool_progress`` event the moment it is read. The stream ends with
``agent_tool_completed``, or ``agent_tool_terminated`` when the node's budget is exceeded (the partial
output is the node's result) or no chunk arrives within the timeout (a retryable failure). Leaving the
response early closes the connection, which is how the agent learns to stop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import httpx

from jamjet_common.errors import RetryableError
from services.worker.executors import ndjson
from services.worker.executors.agent_call import AgentCall, AgentOutcome, usage
from services.worker.executors.agent_events import (
    COMPLETED,
    PROGRESS,
    TERMINATED,
    AgentEventLog,
    elapsed_ms,
    summarize,
)
from services.worker.executors.agent_http import check_status

TEXT_FIELDS = ("delta", "text", "content")
"""Chunk fields whose strings are pieces of the agent's text, concatenated in order."""


class IdleTimeoutError(RetryableError):
    code = "idle_timeout"
    error_class = "timeout"


@dataclass(slots=True)
class StreamTally:
    """What the chunks so far add up to."""

    chunks: int = 0
    cost: float = 0.0
    tokens: int = 0
    text: list[str] = field(default_factory=list)
    output: Any = None
    """The latest chunk's ``output`` field: agents that send a final result put it there."""

    def add(self, chunk: dict[str, Any]) -> None:
        self.chunks += 1
        cost, tokens = usage(chunk)
        self.cost += cost
        self.tokens += tokens
        piece = next((chunk[k] for k in TEXT_FIELDS if isinstance(chunk.get(k), str)), None)
        if piece is not None:
            self.text.append(piece)
        if "output" in chunk:
            self.output = chunk["output"]

    def assembled(self) -> dict[str, Any]:
        return {"output": self.output, "text": "".join(self.text), "chunks_received": self.chunks}

    def summary(self, chunk: dict[str, Any]) -> str:
        return summarize("".join(self.text)) if self.text else summarize(chunk)


async def run_streaming(client: httpx.AsyncClient, call: AgentCall, log: AgentEventLog) -> AgentOutcome:
    started = time.monotonic()
    # The idle timer below bounds the wait per chunk; httpx's read timeout is only a backstop.
    timeout = httpx.Timeout(call.timeout_secs, read=call.timeout_secs * 2 + 1)
    body = {"input": call.input}
    async with client.stream("POST", call.url, json=body, headers=call.headers, timeout=timeout) as response:
        if response.status_code >= 400:
            await response.aread()
        check_status(response, call.url)
        sse = response.headers.get("content-type", "").startswith(ndjson.SSE_CONTENT_TYPE)
        stream = ndjson.chunks(response.aiter_lines(), sse=sse)
        try:
            return await _consume(stream, call, log, started)
        finally:
            await stream.aclose()


async def _consume(
    stream: AsyncGenerator[dict[str, Any], None], call: AgentCall, log: AgentEventLog, started: float
) -> AgentOutcome:
    tally = StreamTally()
    try:
        while (chunk := await _next_chunk(stream, call.timeout_secs)) is not None:
            tally.add(chunk)
            await _progress(log, tally, chunk)
            if call.budget.exceeded(tally.cost, tally.tokens):
                await _terminate(log, tally, "budget_exceeded", started)
                return AgentOutcome(tally.assembled(), tally.cost, tally.tokens)
    except IdleTimeoutError:
        await _terminate(log, tally, "idle_timeout", started)
        raise
    output = tally.assembled()
    await log.emit(COMPLETED, output=output, total_cost=tally.cost, latency_ms=elapsed_ms(started))
    return AgentOutcome(output, tally.cost, tally.tokens)


async def _next_chunk(
    stream: AsyncGenerator[dict[str, Any], None], idle_secs: float
) -> dict[str, Any] | None:
    try:
        async with asyncio.timeout(idle_secs):
            return await anext(stream)
    except StopAsyncIteration:
        return None
    except TimeoutError:
        raise IdleTimeoutError(f"agent sent no chunk for {idle_secs:g}s") from None


async def _progress(log: AgentEventLog, tally: StreamTally, chunk: dict[str, Any]) -> None:
    await log.emit(
        PROGRESS,
        chunk_index=tally.chunks - 1,
        partial_output_summary=tally.summary(chunk),
        chunk=chunk,
        accumulated_cost_usd=tally.cost,
        accumulated_tokens=tally.tokens,
    )


async def _terminate(log: AgentEventLog, tally: StreamTally, reason: str, started: float) -> None:
    await log.emit(
        TERMINATED,
        reason=reason,
        chunks_received=tally.chunks,
        partial_output=tally.assembled(),
        cost=tally.cost,
        tokens=tally.tokens,
        latency_ms=elapsed_ms(started),
    )
