"""The ``agent_tool`` node: invoke a remote agent over HTTP, as a tool.

The agent gets ``POST <url>`` with ``{"input": ...}``: the node's ``input_mapping`` applied to the
state, or the whole state without one (conversational turns add ``"turn"``). Every step is an event
(``agent_tool_invoked``, ``_progress``, ``_turn``, ``_completed``, ``_terminated``, ``_error``)
published live on the execution's progress subject and appended, in order, to ``agent_tool_events``
in the node's state patch. The node's output is the agent's output, also written under
``output_key`` when the node names one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from jamjet_common.errors import JamjetError
from services.worker.executors.agent_call import AgentCall, AgentOutcome, agent_call
from services.worker.executors.agent_events import (
    ERROR,
    EVENTS_KEY,
    INVOKED,
    AgentEventLog,
    input_hash,
)
from services.worker.executors.agent_http import transport_error
from services.worker.executors.agent_stream import IdleTimeoutError, run_streaming
from services.worker.executors.agent_turns import run_conversation, run_sync
from services.worker.executors.base import ExecutionContext, ExecutionResult
from services.worker.progress import NullProgressSink, ProgressSink

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECS = 30.0
PROTOCOL = "http"
Runner = Callable[[httpx.AsyncClient, AgentCall, AgentEventLog], Awaitable[AgentOutcome]]
RUNNERS: dict[str, Runner] = {
    "sync": run_sync,
    "streaming": run_streaming,
    "conversational": run_conversation,
}


class AgentToolExecutor:
    """Shares one pooled HTTP client across calls; ``aclose()`` it on shutdown."""

    def __init__(
        self,
        progress: ProgressSink | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        default_timeout_secs: float = DEFAULT_TIMEOUT_SECS,
    ) -> None:
        self._progress = progress if progress is not None else NullProgressSink()
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(follow_redirects=False)
        self._default_timeout_secs = default_timeout_secs

    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        call = agent_call(ctx, self._default_timeout_secs)
        item = ctx.item
        log = AgentEventLog(self._progress, item.tenant, item.execution_id, ctx.node.id, ctx.attempt)
        await log.emit(
            INVOKED,
            agent_uri=call.url,
            mode=call.mode.kind,
            protocol=PROTOCOL,
            input_hash=input_hash(call.input),
        )
        outcome = await self._run(call, log)
        return ExecutionResult(
            output=outcome.output,
            state_patch=state_patch(ctx.state, call, log, outcome),
            cost_usd=outcome.cost,
        )

    async def _run(self, call: AgentCall, log: AgentEventLog) -> AgentOutcome:
        try:
            return await RUNNERS[call.mode.kind](self._client, call, log)
        except IdleTimeoutError:
            raise  # already reported as agent_tool_terminated
        except httpx.HTTPError as exc:
            error = transport_error(exc, call.url)
            await _report(log, error)
            raise error from exc
        except JamjetError as error:
            await _report(log, error)
            raise

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


async def _report(log: AgentEventLog, error: JamjetError) -> None:
    logger.warning("%s/%s: agent_tool failed: %s", log.execution_id, log.node_id, error.message)
    await log.emit(ERROR, error=error.message, failure_type=error.code, retryable=error.retryable)


def state_patch(
    state: dict[str, Any], call: AgentCall, log: AgentEventLog, outcome: AgentOutcome
) -> dict[str, Any]:
    """Appends to the events already in the state: a merge patch replaces lists, it cannot extend them."""
    prior = state.get(EVENTS_KEY)
    patch: dict[str, Any] = {EVENTS_KEY: [*(prior if isinstance(prior, list) else []), *log.events]}
    if call.output_key:
        patch[call.output_key] = outcome.output
    return patch
