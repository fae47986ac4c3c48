"""The request/response modes of agent_tool: ``sync`` (one POST) and ``conversational`` (turns).

A conversation posts ``{"input": ..., "turn": n}``; the agent answers with JSON, ``"status":
"completed"`` when it is done, and its ``output`` (or the whole answer) is the next turn's input.
It ends after ``max_turns``, or with ``agent_tool_terminated`` when the budget is exceeded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from services.worker.executors.agent_call import AgentCall, AgentOutcome, usage
from services.worker.executors.agent_events import (
    COMPLETED,
    TERMINATED,
    TURN,
    AgentEventLog,
    elapsed_ms,
    summarize,
)
from services.worker.executors.agent_http import post_json

DONE_STATUS = "completed"


async def run_sync(client: httpx.AsyncClient, call: AgentCall, log: AgentEventLog) -> AgentOutcome:
    started = time.monotonic()
    reply = await post_json(client, call.url, {"input": call.input}, call.headers, call.timeout_secs)
    cost, tokens = usage(reply)
    await log.emit(COMPLETED, output=reply, total_cost=cost, latency_ms=elapsed_ms(started))
    return AgentOutcome(reply, cost, tokens)


@dataclass(slots=True)
class _Totals:
    turns: int = 0
    cost: float = 0.0
    tokens: int = 0


async def run_conversation(client: httpx.AsyncClient, call: AgentCall, log: AgentEventLog) -> AgentOutcome:
    started, totals = time.monotonic(), _Totals()
    message: Any = call.input
    reply: Any = None
    while totals.turns < call.mode.max_turns:
        totals.turns += 1
        reply = await _turn(client, call, log, totals, message)
        if _over_budget(call, reply, totals):
            return await _terminate(log, totals, reply, started)
        if isinstance(reply, dict) and reply.get("status") == DONE_STATUS:
            break
        message = reply_output(reply)
    output = reply_output(reply)
    await log.emit(
        COMPLETED,
        output=output,
        total_cost=totals.cost,
        latency_ms=elapsed_ms(started),
        total_turns=totals.turns,
    )
    return AgentOutcome(output, totals.cost, totals.tokens)


async def _turn(
    client: httpx.AsyncClient, call: AgentCall, log: AgentEventLog, totals: _Totals, message: Any
) -> Any:
    turn = totals.turns
    await _turn_event(log, turn, "outbound", message, 0, 0.0)
    body = {"input": message, "turn": turn}
    reply = await post_json(client, call.url, body, call.headers, call.timeout_secs)
    cost, tokens = usage(reply)
    totals.cost += cost
    totals.tokens += tokens
    await _turn_event(log, turn, "inbound", reply_output(reply), tokens, cost)
    return reply


async def _turn_event(
    log: AgentEventLog, turn: int, direction: str, content: Any, tokens: int, cost: float
) -> None:
    await log.emit(
        TURN,
        turn_number=turn,
        direction=direction,
        content_summary=summarize(content),
        tokens=tokens,
        cost=cost,
    )


def _over_budget(call: AgentCall, reply: Any, totals: _Totals) -> bool:
    per_turn = call.mode.max_tokens_per_turn
    if per_turn is not None and usage(reply)[1] > per_turn:
        return True
    return call.budget.exceeded(totals.cost, totals.tokens)


async def _terminate(log: AgentEventLog, totals: _Totals, reply: Any, started: float) -> AgentOutcome:
    output = reply_output(reply)
    await log.emit(
        TERMINATED,
        reason="budget_exceeded",
        chunks_received=totals.turns,
        partial_output=output,
        cost=totals.cost,
        tokens=totals.tokens,
        latency_ms=elapsed_ms(started),
        total_turns=totals.turns,
    )
    return AgentOutcome(output, totals.cost, totals.tokens)


def reply_output(reply: Any) -> Any:
    return reply["output"] if isinstance(reply, dict) and "output" in reply else reply
