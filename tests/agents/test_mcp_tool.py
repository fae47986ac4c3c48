"""mcp_tool against real MCP servers: a stdio subprocess, and streamable HTTP and SSE in this process."""

from __future__ import annotations

import asyncio
import os

import pytest

from jamjet_common.errors import FatalError, RetryableError
from jamjet_common.ir import McpServerConfig
from services.worker.executors.mcp_tool import McpToolExecutor
from services.worker.sandbox.commands import CommandPolicy
from tests.agents.builders import context, mcp_node
from tests.agents.conftest import ALLOWED_COMMANDS, STDIO_SERVER, mcp_tool_executor


def http_server(port: int, transport: str = "streamable_http", path: str = "/mcp") -> McpServerConfig:
    return McpServerConfig(transport=transport, url=f"http://127.0.0.1:{port}{path}")


async def test_stdio_tool_result_is_the_output_and_state_patch(mcp_executor: McpToolExecutor) -> None:
    node = mcp_node("profile", {"name": "state.user.name"})
    result = await mcp_executor.execute(context(node, {"user": {"name": "ada"}}, mcp_server=STDIO_SERVER))
    assert result.output == {"name": "ada", "length": 3}
    assert result.state_patch == {"name": "ada", "length": 3}


async def test_stdio_session_is_reused_across_calls(mcp_executor: McpToolExecutor) -> None:
    first = await mcp_executor.execute(context(mcp_node("pid"), mcp_server=STDIO_SERVER))
    second = await mcp_executor.execute(context(mcp_node("pid"), mcp_server=STDIO_SERVER))
    assert first.output == second.output == {"result": first.output["result"]}
    assert isinstance(first.output["result"], int)


async def test_concurrent_calls_share_one_session(mcp_executor: McpToolExecutor) -> None:
    node = mcp_node("add", {"a": "state.a", "b": "state.b"})
    calls = [mcp_executor.execute(context(node, {"a": i, "b": 1}, mcp_server=STDIO_SERVER)) for i in range(8)]
    results = await asyncio.gather(
        *calls, mcp_executor.execute(context(mcp_node("pid"), mcp_server=STDIO_SERVER))
    )
    assert [r.output for r in results[:8]] == [{"result": i + 1} for i in range(8)]
    again = await mcp_executor.execute(context(mcp_node("pid"), mcp_server=STDIO_SERVER))
    assert again.output == results[8].output, "one server process served them all"


async def test_a_tool_error_is_fatal_with_its_text(mcp_executor: McpToolExecutor) -> None:
    node = mcp_node("refuse", {"reason": "state.why"})
    with pytest.raises(FatalError, match=r"MCP tool 'refuse' on server 'tools' failed: .*not today"):
        await mcp_executor.execute(context(node, {"why": "not today"}, mcp_server=STDIO_SERVER))


async def test_an_unknown_tool_is_fatal(mcp_executor: McpToolExecutor) -> None:
    with pytest.raises(FatalError, match="nope"):
        await mcp_executor.execute(context(mcp_node("nope"), mcp_server=STDIO_SERVER))


async def test_a_broken_connection_is_retryable_and_the_next_call_reconnects(
    mcp_executor: McpToolExecutor,
) -> None:
    before = await mcp_executor.execute(context(mcp_node("pid"), mcp_server=STDIO_SERVER))
    with pytest.raises(RetryableError, match="MCP tool 'crash'"):
        await mcp_executor.execute(context(mcp_node("crash"), mcp_server=STDIO_SERVER))
    after = await mcp_executor.execute(context(mcp_node("pid"), mcp_server=STDIO_SERVER))
    assert after.output["result"] != before.output["result"], "a new server process serves the retry"


@pytest.mark.parametrize(
    ("server", "commands"),
    [
        (McpServerConfig(transport="stdio", command="/nonexistent/mcp-server"), CommandPolicy(None, True)),
        (McpServerConfig(transport="streamable_http", url="http://127.0.0.1:9/mcp"), ALLOWED_COMMANDS),
    ],
    ids=["missing-command-in-dev-mode", "refused"],
)
async def test_connection_failures_are_retryable(server: McpServerConfig, commands: CommandPolicy) -> None:
    executor = mcp_tool_executor(commands)
    try:
        with pytest.raises(RetryableError, match="cannot connect to MCP server 'tools'"):
            await executor.execute(context(mcp_node("add"), mcp_server=server))
    finally:
        await executor.aclose()


async def test_streamable_http_server(mcp_executor: McpToolExecutor, mcp_http_port: int) -> None:
    node = mcp_node("add", {"a": "state.a", "b": "state.b"})
    result = await mcp_executor.execute(
        context(node, {"a": 2, "b": 40}, mcp_server=http_server(mcp_http_port))
    )
    assert result.output == {"result": 42}
    echo = await mcp_executor.execute(
        context(mcp_node("echo", {"text": "state.t"}), {"t": "hi"}, mcp_server=http_server(mcp_http_port))
    )
    assert echo.output == {"result": "hi"}


async def test_legacy_sse_server(mcp_executor: McpToolExecutor, mcp_sse_port: int) -> None:
    server = http_server(mcp_sse_port, transport="http_sse", path="/sse")
    result = await mcp_executor.execute(
        context(mcp_node("add", {"a": "state.a", "b": "state.b"}), {"a": 1, "b": 1}, mcp_server=server)
    )
    assert result.output == {"result": 2}


@pytest.mark.parametrize(
    ("server", "message"),
    [
        (McpServerConfig(transport="web_socket", url="ws://127.0.0.1:9"), "not supported"),
        (McpServerConfig(transport="stdio"), "has no command"),
        (McpServerConfig(transport="streamable_http"), "has no url"),
    ],
)
async def test_unusable_server_configs_are_fatal(
    mcp_executor: McpToolExecutor, server: McpServerConfig, message: str
) -> None:
    with pytest.raises(FatalError, match=message):
        await mcp_executor.execute(context(mcp_node("add"), mcp_server=server))


async def test_an_unconfigured_server_is_fatal(mcp_executor: McpToolExecutor) -> None:
    with pytest.raises(FatalError, match="'tools' is not in the IR's mcp_servers"):
        await mcp_executor.execute(context(mcp_node("add")))


async def test_aclose_stops_the_stdio_server() -> None:
    executor = mcp_tool_executor()
    result = await executor.execute(context(mcp_node("pid"), mcp_server=STDIO_SERVER))
    await executor.aclose()
    with pytest.raises(ProcessLookupError):
        os.kill(result.output["result"], 0)  # signal 0: does the process still exist?
