"""mcp_tool stdio servers through the running services: only the operator's commands start."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from services.worker.sandbox.refusal import MCP_COMMAND
from tests.e2e.stack import Stack, services
from tests.sandbox.support import MCP_SERVER, kinds_of, mcp_tool, refusal, run_once

pytestmark = pytest.mark.e2e


def shell(path: Path) -> dict[str, object]:
    return {"transport": "stdio", "command": "sh", "args": ["-c", f"touch {path}"]}


async def test_a_shell_is_refused_when_not_in_the_allowlist(stack: Stack, tmp_path: Path) -> None:
    async with services(stack, JAMJET_MCP_ALLOWED_COMMANDS=sys.executable):
        execution_id = await run_once(stack, mcp_tool(shell(tmp_path / "pwned")))
    error = refusal(stack, execution_id, MCP_COMMAND)
    assert "command 'sh'" in error and "JAMJET_MCP_ALLOWED_COMMANDS" in error
    assert not (tmp_path / "pwned").exists()


async def test_a_shell_is_refused_in_dev_mode_too(stack: Stack, tmp_path: Path) -> None:
    async with services(stack, JAMJET_DEV_MODE="1"):
        execution_id = await run_once(stack, mcp_tool(shell(tmp_path / "pwned")))
    refusal(stack, execution_id, MCP_COMMAND)
    assert not (tmp_path / "pwned").exists()


async def test_a_link_to_a_shell_is_matched_on_what_it_resolves_to(stack: Stack, tmp_path: Path) -> None:
    """A symlink named like an allowed program, pointing at a shell, is the shell."""
    disguised = tmp_path / "mcp-server"
    disguised.symlink_to(shutil.which("sh") or "/bin/sh")
    server = {"transport": "stdio", "command": str(disguised), "args": ["-c", f"touch {tmp_path / 'pwned'}"]}
    async with services(stack, JAMJET_DEV_MODE="1"):
        execution_id = await run_once(stack, mcp_tool(server))
    refusal(stack, execution_id, MCP_COMMAND)
    assert not (tmp_path / "pwned").exists()


async def test_without_an_allowlist_no_stdio_server_starts(stack: Stack) -> None:
    async with services(stack):
        execution_id = await run_once(stack, mcp_tool(MCP_SERVER))
    assert "JAMJET_MCP_ALLOWED_COMMANDS is not set" in refusal(stack, execution_id, MCP_COMMAND)


async def test_an_allowed_command_serves_the_tool(stack: Stack) -> None:
    async with services(stack, JAMJET_MCP_ALLOWED_COMMANDS=sys.executable):
        ir = mcp_tool(MCP_SERVER, "add", {"a": "state.a", "b": "state.b"})
        execution_id = await run_once(stack, ir, {"a": 2, "b": 40})
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    assert kinds_of(stack, execution_id, "node_completed")[0]["output"] == {"result": 42}
