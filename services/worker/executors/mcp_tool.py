"""The ``mcp_tool`` node: call a tool on an MCP server from the IR's ``mcp_servers`` (official SDK).

Arguments come from the node's ``input_mapping`` (none: no arguments). The output is the tool's
structured content, else its text (one text block), else its content blocks as JSON; an object output
is also the state patch, anything else is patched under the tool's name. A result flagged ``isError``
fails the node (the tool said no); a connection that cannot be made or broke is retryable, and the
next attempt reconnects.
"""

from __future__ import annotations

import logging
from typing import Any

from mcp import MCPError
from mcp_types import CONNECTION_CLOSED, INTERNAL_ERROR, REQUEST_TIMEOUT, CallToolResult, TextContent
from pydantic import ValidationError

from jamjet_common.errors import FatalError, JamjetError, RetryableError
from jamjet_common.ir import McpServerConfig, McpToolNode
from services.worker.executors.base import ExecutionContext, ExecutionResult
from services.worker.executors.mcp_sessions import McpSessions, leaf
from services.worker.executors.state_mapping import map_input

logger = logging.getLogger(__name__)

TRANSIENT_CODES = frozenset({CONNECTION_CLOSED, REQUEST_TIMEOUT, INTERNAL_ERROR})


class McpToolExecutor:
    """Keeps one session per MCP server configuration; ``aclose()`` them on shutdown."""

    def __init__(
        self,
        sessions: McpSessions | None = None,
        *,
        call_timeout_secs: float | None = None,
    ) -> None:
        self._sessions = sessions if sessions is not None else McpSessions()
        self._call_timeout = call_timeout_secs

    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        node = ctx.node.kind
        if not isinstance(node, McpToolNode):
            raise FatalError(f"mcp_tool executor cannot run a '{node.tag}' node")
        config = ctx.item.resources.mcp_server if ctx.item.resources else None
        if config is None:
            raise FatalError(f"mcp_tool: MCP server '{node.server}' is not in the IR's mcp_servers")
        arguments = map_input(node.input_mapping, ctx.state)
        result = await self._call(config, node, arguments, ctx.item.tenant)
        if result.is_error:
            raise FatalError(f"MCP tool '{node.tool}' on server '{node.server}' failed: {_text(result)}")
        output = tool_output(result)
        return ExecutionResult(output=output, state_patch=output_patch(node, output))

    async def _call(
        self, config: McpServerConfig, node: McpToolNode, arguments: dict[str, Any], tenant: str
    ) -> CallToolResult:
        client = await self._sessions.client(config, node.server, tenant)
        try:
            return await client.call_tool(node.tool, arguments, read_timeout_seconds=self._call_timeout)
        except Exception as exc:
            error = call_error(node, exc)
            if error.retryable:
                # The session may be broken; the next attempt gets a fresh one.
                await self._sessions.discard(config, tenant)
            raise error from exc

    async def aclose(self) -> None:
        await self._sessions.aclose()


def call_error(node: McpToolNode, exc: Exception) -> JamjetError:
    where = f"MCP tool '{node.tool}' on server '{node.server}'"
    if isinstance(exc, MCPError):
        if exc.code in TRANSIENT_CODES:
            return RetryableError(f"{where}: {exc.message}", error_class="io_error")
        return FatalError(f"{where} refused the call: {exc.message} (code {exc.code})")
    if isinstance(exc, ValidationError):
        return FatalError(f"{where} returned a malformed result: {exc}")
    return RetryableError(f"{where}: connection failed: {leaf(exc)}", error_class="io_error")


def tool_output(result: CallToolResult) -> Any:
    if result.structured_content is not None:
        return result.structured_content
    blocks = result.content
    if len(blocks) == 1 and isinstance(blocks[0], TextContent):
        return blocks[0].text
    return [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in blocks]


def output_patch(node: McpToolNode, output: Any) -> dict[str, Any]:
    """As for ``tool`` nodes: an object patches the state, anything else lands under the tool's name."""
    return output if isinstance(output, dict) else {node.tool: output}


def _text(result: CallToolResult) -> str:
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    return "; ".join(texts) or "(no message)"
