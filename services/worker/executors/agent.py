"""``agent`` nodes: one request to the agent named by ``agent_ref``.

The agent is a URL, or a name in the IR's ``remote_agents`` (resolved by the scheduler). It is sent
``{"input": <input_mapping applied to the state, else the state>}`` and answers JSON; a ``cost`` (USD)
or ``tokens`` in the answer count toward the execution's budgets. A JSON object answer is also the
state patch; anything else is kept under ``agent_output``. Which agents may run, and how far, is the
policy service's call (registry status, autonomy) before the node gets here.
"""

from __future__ import annotations

import time

import httpx

from jamjet_common.errors import FatalError
from jamjet_common.ir import AgentNode
from services.worker.executors.agent_call import target_url, usage
from services.worker.executors.agent_http import post_json, transport_error
from services.worker.executors.base import ExecutionContext, ExecutionResult
from services.worker.executors.remote_auth import auth_headers
from services.worker.executors.state_mapping import map_input


class AgentExecutor:
    def __init__(self, *, client: httpx.AsyncClient | None = None, timeout_secs: float = 30.0) -> None:
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(follow_redirects=False)
        self._timeout_secs = timeout_secs

    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        node = ctx.node.kind
        if not isinstance(node, AgentNode):
            raise FatalError(f"agent executor cannot run a '{node.tag}' node")
        remote = ctx.item.resources.remote_agent if ctx.item.resources else None
        url = target_url(node.agent_ref, remote)
        body = {"input": map_input(node.input_mapping, ctx.state) if node.input_mapping else dict(ctx.state)}
        started = time.monotonic()
        try:
            reply = await post_json(
                self._client, url, body, auth_headers(remote.auth if remote else None), self._timeout_secs
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, url) from exc
        cost, tokens = usage(reply)
        return ExecutionResult(
            output=reply,
            state_patch=reply if isinstance(reply, dict) else {"agent_output": reply},
            duration_ms=int((time.monotonic() - started) * 1000),
            output_tokens=tokens or None,
            cost_usd=cost or None,
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
